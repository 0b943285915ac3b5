"""Predict one new video (no label file) with one model: its EEV-layout CSV and its plot, by the
same code as ``eevflow predict`` (eevflow.new_videos)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

from eevflow.new_videos import load_model, predict_video, write_outputs
from eevflow.runtime import run_script


def main(sm):
    model = load_model(sm.params.model, threads=sm.threads)
    pred = predict_video(model, sm.input.video, sm.wildcards.video,
                         n_thumbnails=sm.params.thumbnails, threads=sm.threads)
    write_outputs(pred, model.targets, sm.output.csv, sm.output.png,
                  title=f"{sm.wildcards.video} ({pred.duration_s:.1f} s), {sm.wildcards.model}")
    logging.info("%s: %d rows, %.1f s, model %s (%s)", sm.wildcards.video,
                 len(pred.timestamps_us), pred.duration_s, sm.wildcards.model,
                 ", ".join(f"{m.name} x {m.weight:.3f}" for m in model.members))


run_script(snakemake, main)  # noqa: F821
