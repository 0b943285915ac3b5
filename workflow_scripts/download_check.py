"""Check (and, if enabled, download) every listed video of a split into the manifest."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.download import DownloadOptions
from eevflow.io import atomic_path
from eevflow.manifest import check_videos, read_video_list
from eevflow.runtime import run_script


def main(sm):
    ids = pd.read_parquet(sm.input.labels, columns=["video_id"])["video_id"].unique().tolist()
    listed = set(read_video_list(sm.input.video_list)) if sm.input.get("video_list") else None
    df = check_videos(
        ids,
        sm.params.videos_dir,
        list(sm.params.extensions),
        sample_rate=sm.params.sample_rate,
        min_duration_s=sm.params.probe["min_duration_s"],
        video_list=listed,
        download=DownloadOptions.from_config(sm.params.download),
    )
    for status, n in df["status"].value_counts().items():
        logging.info("%s: %d videos", status, n)
    for row in df[df["status"] != "ok"].itertuples():
        logging.warning("%s %s: %s", row.status, row.video_id, row.reason)
    with atomic_path(sm.output.manifest) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
