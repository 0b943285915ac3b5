"""Check (and, if enabled, download) the listed videos of one (split, shard) into the shard's
manifest (merge_manifest.py joins a split's shards)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.download import DownloadOptions
from eevflow.io import atomic_path
from eevflow.manifest import ProbeOptions, check_videos, read_video_list, shard_ids
from eevflow.runtime import run_script


def main(sm):
    labels = pd.read_parquet(sm.input.labels, columns=["video_id", "timestamp_us"])
    times = {v: g["timestamp_us"].to_numpy() for v, g in labels.groupby("video_id", sort=False)}
    ids = shard_ids(times, sm.params.shard, sm.params.n_shards)
    logging.info("shard %d of %d: %d of the split's %d videos", sm.params.shard,
                 sm.params.n_shards, len(ids), len(times))
    listed = set(read_video_list(sm.input.video_list)) if sm.input.get("video_list") else None
    df = check_videos(
        ids,
        sm.params.videos_dir,
        list(sm.params.extensions),
        options=ProbeOptions.from_config(sm.params.probe, sm.params.decode),
        label_times=times,
        video_list=listed,
        download=DownloadOptions.from_config(sm.params.download),
        desc=f"download_check split {sm.wildcards.split} shard {sm.wildcards.shard}",
    )
    for status, n in df["status"].value_counts().items():
        logging.info("%s: %d videos", status, n)
    for row in df[df["status"] != "ok"].itertuples():
        logging.warning("%s %s: %s", row.status, row.video_id, row.reason)
    for row in df[df["rows_past_end"] > 0].itertuples():
        logging.warning("%s: %d of %d label rows after the end (%.2f s)", row.video_id,
                        row.rows_past_end, row.rows, row.duration_s)
    for decoder, n in df.loc[df["decoder"] != "", "decoder"].value_counts().items():
        logging.info("decoder %s: %d videos", decoder, n)
    with atomic_path(sm.output.manifest) as tmp:
        df.to_parquet(tmp, index=False)


run_script(snakemake, main)  # noqa: F821
