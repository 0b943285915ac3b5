"""Decode the clip stream of one (split, shard): every frame on the ``clips.fps`` grid over each
video, kept as ``clips.store`` says (eevflow.clips)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging
import time

from eevflow.clips import ClipSettings, decode_clip_shard
from eevflow.runtime import run_script


def main(sm):
    videos = dict(sm.params.videos)  # video ID -> file
    if sorted(videos.values()) != sorted(sm.input.videos):
        raise ValueError(f"the {len(videos)} videos of the shard are not the job's "
                         f"{len(sm.input.videos)} input files")
    settings = ClipSettings.from_dict(dict(sm.params.clips), ("clips",))
    settings.threads = sm.threads
    d = sm.params.decode
    t0 = time.perf_counter()
    infos = decode_clip_shard(
        sm.output[0], list(videos.items()), dict(sm.params.durations), settings,
        backend=d["backend"], chunk_frames=d["chunk_frames"], jpeg_quality=d["jpeg_quality"],
        jpeg_subsampling=d["jpeg_subsampling"],
        desc=f"decode_clips split {sm.wildcards.split} shard {sm.wildcards.shard}",
    )
    frames = sum(len(i.timestamps_us) for i in infos)
    logging.info("split %s shard %s: %d videos, %d grid frames at %g fps in %.1f s (store %s)",
                 sm.wildcards.split, sm.wildcards.shard, len(infos), frames, settings.fps,
                 time.perf_counter() - t0, settings.store)


run_script(snakemake, main)  # noqa: F821
