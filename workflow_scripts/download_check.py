"""Probe every listed video of a split into the manifest (status and reason per video)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging
import os

import pandas as pd

from eevflow.io import atomic_path
from eevflow.media import probe
from eevflow.runtime import run_script


def main(sm):
    ids = pd.read_parquet(sm.input.labels, columns=["video_id"])["video_id"].unique()
    rows = [
        vars(probe(v, os.path.join(sm.params.videos_dir, f"{v}.mp4"), sm.params.sample_rate))
        for v in ids
    ]
    df = pd.DataFrame(rows)
    for status, n in df["status"].value_counts().items():
        logging.info("%s: %d videos", status, n)
    for row in df[df["status"] != "ok"].itertuples():
        logging.warning("excluded %s: %s (%s)", row.video_id, row.status, row.reason)
    with atomic_path(sm.output.manifest) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
