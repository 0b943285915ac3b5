"""Test predictions in the EEV submission layout, row for row in the test CSV's order, checked
against it; rows the model could not predict get the documented fallback and are counted."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.label_prior import read_curve
from eevflow.labels import read_labels
from eevflow.runtime import run_script
from eevflow.submission import fill_missing, write_submission

FILL_WORDS = {
    "mean_curve": "the training set's mean label curve at each row's time",
    "mean": "the model's mean prediction per expression",
    "zeros": "zeros",
}


def main(sm):
    targets = list(sm.params.targets)
    test = read_labels(sm.input.test, targets, require_scores=False,
                       target_range=sm.params.target_range)[["video_id", "timestamp_us"]]
    pred = pd.read_parquet(sm.input.predictions)
    manifest = pd.read_parquet(sm.input.manifest, columns=["video_id", "status", "reason"])
    reasons = {r.video_id: f"{r.status}: {r.reason}" for r in manifest.itertuples()}
    fill = sm.params.fill
    curve = read_curve(sm.input.curve, targets) if fill == "mean_curve" else None
    out, report = fill_missing(test, pred, targets, reasons, fill, curve)
    if report.filled_rows:
        logging.warning(
            "%d of %d test rows (%d videos) had no prediction; filled with %s",
            report.filled_rows, report.rows, len(report.filled_videos),
            FILL_WORDS[fill],
        )
        for vid, why in report.filled_videos.items():
            logging.warning("  %s: %s", vid, why)
    write_submission(out, test, targets, sm.output.csv, report, sm.output.report,
                     sm.params.target_range)
    logging.info("wrote %d rows, checked against %s", len(out), sm.input.test)


run_script(snakemake, main)  # noqa: F821
