"""Predicted vs true curves of a few videos (``report.curve_videos``, the first of the split's
label file that the model predicted) by the best model: by test M_rho when the test split is scored, else by val. One PNG
per video in the output folder, with frames of the decoded video along the time axis
(``report.thumbnails``)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging
import os
import shutil
from pathlib import Path

import pandas as pd

from eevflow.decoded_shard import load_video, read_index
from eevflow.plots import (best_model, curve_videos, curves_figure, pick_thumbnails, save_figure,
                           video_curves)
from eevflow.runtime import run_script
from eevflow.shards import shard_of


def thumbnails(shards, video, n):
    """``n`` frames of the video from its decoded shard (none when it was not decoded)."""
    if n <= 0 or not shards:
        return []
    shard = shards[shard_of(video, len(shards))]
    if video not in read_index(shard):
        return []
    decoded = load_video(shard, video, "visual")
    return pick_thumbnails(decoded.info.timestamps_us, decoded.frames, n)


def main(sm):
    model, split = best_model(sm.input.scores)
    if split != sm.params.split:
        raise ValueError(f"the score table's best model is scored on {split}, the rule's "
                         f"inputs are of {sm.params.split}")
    targets = list(sm.params.targets)
    truth = pd.read_parquet(sm.input.truth)
    pred = pd.read_parquet(sm.input[f"pred__{model}"])
    videos = curve_videos(truth, sm.params.n_videos, predicted=pred["video_id"].unique())
    shards = list(sm.input.decoded) if "decoded" in sm.input.keys() else []
    out = Path(sm.output[0])
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")  # the folder, moved into place whole
    try:
        tmp.mkdir(parents=True)
        for video in videos:
            times, p, t = video_curves(pred, truth, video, targets)
            fig = curves_figure(times, p, targets, truth=t,
                                thumbnails=thumbnails(shards, video, sm.params.thumbnails),
                                title=f"{video}: {model} on {split} (dashed: true)")
            save_figure(fig, tmp / f"{video}.png")
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logging.info("%s on %s: curves of %d video(s): %s", model, split, len(videos), videos)


run_script(snakemake, main)  # noqa: F821
