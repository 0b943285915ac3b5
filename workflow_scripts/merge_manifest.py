"""Merge a split's shard manifests (download_check, one per shard) into the split's manifest: every
label-file video's row, in label-file order, as one download_check job over the split wrote it."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.io import atomic_path
from eevflow.manifest import merge_manifests
from eevflow.runtime import run_script


def main(sm):
    ids = pd.read_parquet(sm.input.labels, columns=["video_id"])["video_id"].unique()
    df = merge_manifests([pd.read_parquet(p) for p in sm.input.shards], ids)
    counts = ", ".join(f"{k} {v}" for k, v in df["status"].value_counts().sort_index().items())
    logging.info("%d videos from %d shard manifests: %s", len(df), len(sm.input.shards), counts)
    with atomic_path(sm.output.manifest) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
