"""The training set's mean label curve over time (eevflow.label_prior): the fallback of test
videos a model could not predict (``submission.fill: mean_curve``)."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.label_prior import mean_label_curve, write_curve
from eevflow.runtime import run_script


def main(sm):
    targets = list(sm.params.targets)
    labels = pd.read_parquet(sm.input[0], columns=["video_id", "timestamp_us", *targets,
                                                   "detected"])
    curve = mean_label_curve(labels, targets, sm.params.min_videos)
    write_curve(curve, targets, sm.output[0])
    logging.info("%d rows (%.1f s) from %d training videos, each row's value from at least %d",
                 len(curve.values), len(curve.values) / 6, labels["video_id"].nunique(),
                 curve.min_videos)


run_script(snakemake, main)  # noqa: F821
