"""Decode the videos of one (split, shard): frames at their label timestamps (square) and 16 kHz
mono audio, into one folder (eevflow.decoded_shard), kept as ``decode.store`` says
(eevflow.media_store)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging
import time

import pandas as pd

from eevflow.decoded_shard import decode_shard
from eevflow.runtime import run_script


def main(sm):
    videos = dict(sm.params.videos)  # video ID -> file
    if sorted(videos.values()) != sorted(sm.input.videos):
        raise ValueError(f"the {len(videos)} videos of the shard are not the job's "
                         f"{len(sm.input.videos)} input files")
    ids = list(videos)
    labels = pd.read_parquet(sm.input.labels, columns=["video_id", "timestamp_us"])
    labels = labels[labels["video_id"].isin(ids)]
    stamps = {v: g["timestamp_us"].to_numpy() for v, g in labels.groupby("video_id", sort=False)}
    d = sm.params.decode
    t0 = time.perf_counter()
    infos = decode_shard(
        sm.output[0], list(videos.items()), stamps,
        frame_size=d["frame_size"], sample_rate=d["audio_sample_rate"],
        chunk_frames=d["chunk_frames"], backend=d["backend"], threads=sm.threads,
        frame_sampling=d["frame_sampling"], audio_path=d["audio_path"], store=d["store"],
        jpeg_quality=d["jpeg_quality"], jpeg_subsampling=d["jpeg_subsampling"],
        desc=f"decode split {sm.wildcards.split} shard {sm.wildcards.shard}",
    )
    rows = sum(len(i.timestamps_us) for i in infos)
    logging.info(
        "split %s shard %s: %d videos, %d rows in %.1f s (store %s)",
        sm.wildcards.split, sm.wildcards.shard, len(infos), rows, time.perf_counter() - t0,
        d["store"],
    )


run_script(snakemake, main)  # noqa: F821
