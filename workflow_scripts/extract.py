"""Embed every video of one (extractor, split, shard) into a Parquet shard, reading the decoded
shard as its store kept it (``decode.store: none``: decoding the job's input videos again)."""

import _paths  # noqa: F401  (makes eevflow importable)
import json
import logging
import time

from eevflow.clips import clip_settings, iter_clip_videos
from eevflow.features import build_extractor
from eevflow.decoded_shard import decode_settings, decoded_rows, iter_shard
from eevflow.runtime import run_script
from eevflow.shards import write_shard
from eevflow.inference import pick_device
from eevflow.progress import progress


def main(sm):
    ext = build_extractor(
        sm.wildcards.extractor, sm.params.extractor,
        device=str(pick_device("auto")), threads=sm.threads,
    )
    t0, n_rows = time.perf_counter(), 0

    stream = ext.options_class.input_stream

    def videos():
        nonlocal n_rows
        source = (iter_clip_videos(sm.input.decoded, sm.input.clips) if stream == "clips"
                  # the clip stream: label rows with the grid frames around them (eevflow.clips)
                  else iter_shard(sm.input.decoded, ext.modality, store=sm.params.store,
                             threads=sm.threads, sources=sm.input.videos) if ext.reads_media
                  # subtitles: the label rows of the manifest's videos and their subtitle files
                  else ext.subtitle_videos(sm.input.labels, sm.input.decoded,
                                           sm.config["data"]["videos_dir"])
                  if stream == "subtitles"
                  # precomputed features: the shard's label rows (its manifest's videos)
                  else ext.label_videos(sm.input.labels, sm.input.decoded))
        for video in source:
            emb = ext.embed(video)
            n_rows += len(emb)
            bar.update(len(emb))
            yield video.info.video_id, video.timestamps_us, emb

    # how the frames and sound were decoded, beside the extractor's options: what a checkpoint
    # trained on this shard needs to predict a new video (eevflow.new_videos)
    meta = {**ext.metadata(), **({"decode": json.dumps(decode_settings(sm.input.decoded))}
                                 if ext.reads_media else {}),
            **({"clips": json.dumps(clip_settings(sm.input.clips))} if stream == "clips" else {})}
    with progress(desc=f"extract {ext.name} split {sm.wildcards.split} shard "
                       f"{sm.wildcards.shard}", unit="rows",
                  total=decoded_rows(sm.input.decoded)) as bar:
        n = write_shard(sm.output[0], videos(), ext.dim, meta)
    dt = time.perf_counter() - t0
    logging.info(
        "%s: %d videos, %d rows in %.1f s (%.1f rows/s)",
        ext.name, n, n_rows, dt, n_rows / dt if dt else 0.0,
    )


run_script(snakemake, main)  # noqa: F821
