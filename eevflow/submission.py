"""Test predictions in the EEV submission layout, covering every row of the test CSV.

Fallback (documented in the README): a test row whose video the model could not predict (the
video was excluded by download_check: missing, corrupt, too short, ...) gets, with ``fill:
mean_curve`` (the default), the training set's mean label at the row's time
(eevflow.label_prior); with ``mean`` the model's mean prediction over the rows it did predict,
per expression; with ``zeros`` all-zero scores. Every filled row is counted, by video
and by the manifest's reason, in a JSON report beside the CSV. The written CSV is read back and
checked against the test CSV (same rows, same order, finite scores) before it is put in place.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from eevflow.io import atomic_path, write_json
from eevflow.label_prior import LabelCurve
from eevflow.labels import TIMESTAMP_HEADER, LabelFileError, predictions_table, read_label_csv
from eevflow.targets import parse_range


FILLS = ("mean_curve", "mean", "zeros")


class SubmissionError(ValueError):
    """The predictions file does not match the test CSV."""


@dataclass
class FillReport:
    fill: str = ""
    rows: int = 0
    predicted_rows: int = 0
    filled_rows: int = 0
    filled_videos: dict[str, str] = field(default_factory=dict)  # video -> why it has no prediction
    fill_values: dict[str, float] = field(default_factory=dict)


def fill_missing(
    test_rows: pd.DataFrame,
    predictions: pd.DataFrame,
    targets: list[str],
    reasons: dict[str, str] | None = None,
    fill: str = "mean",
    curve: LabelCurve | None = None,
) -> tuple[pd.DataFrame, FillReport]:
    """One row per test row (in the test CSV's order) with the model's scores or the fallback:
    ``fill: mean_curve`` the training set's mean label ``curve`` at the row's time, ``mean`` the
    model's mean prediction per expression, ``zeros`` all-zero scores (the winner's code)."""
    if fill not in FILLS:
        raise ValueError(f"unknown fill {fill!r}; allowed values: {list(FILLS)}")
    if fill == "mean_curve" and curve is None:
        raise ValueError("fill mean_curve needs the training set's mean label curve")
    keys = ["video_id", "timestamp_us"]
    if predictions.duplicated(keys).any():
        dup = predictions[predictions.duplicated(keys)].iloc[0]
        raise SubmissionError(
            f"predictions hold video {dup['video_id']!r} timestamp {dup['timestamp_us']} twice"
        )
    out = test_rows[keys].merge(predictions[keys + targets], on=keys, how="left", validate="1:1")
    missing = out[targets[0]].isna().to_numpy()
    report = FillReport(fill=fill, rows=len(out), predicted_rows=int((~missing).sum()))
    if missing.any():  # predictions are float32; a fallback's values need not be
        out[targets] = out[targets].astype(np.float64)
    if missing.any() and fill == "mean_curve":
        out.loc[missing, targets] = curve.at(out.loc[missing, "timestamp_us"].to_numpy())
        values = out.loc[missing, targets].mean()  # reported: the filled rows' mean
    elif missing.any():
        if fill == "mean" and (~missing).any():
            values = out.loc[~missing, targets].mean()
        else:  # zeros, or nothing predicted at all: zero scores, and the report says so
            values = pd.Series(0.0, index=targets)
        out.loc[missing, targets] = values.to_numpy()
    if missing.any():
        report.filled_rows = int(missing.sum())
        reasons = reasons or {}
        report.filled_videos = {
            v: reasons.get(v, "no prediction for this video")
            for v in pd.unique(out.loc[missing, "video_id"])
        }
        report.fill_values = {t: float(values[t]) for t in targets}
    return out, report


def validate_submission(path: str | os.PathLike, test_rows: pd.DataFrame, targets: list[str],
                        target_range=(0.0, 1.0)):
    """Read a written submission back and check it row for row against the test CSV's rows, and
    every score finite and inside ``target_range`` (None: unbounded)."""
    try:
        sub = read_label_csv(path)  # the label files' reader: same header rules, IDs kept as str
    except LabelFileError as exc:
        raise SubmissionError(str(exc)) from None
    want_header = [sub.columns[0], TIMESTAMP_HEADER, *targets]
    if list(sub.columns) != want_header or sub.columns[0] not in ("Video ID", "YouTube ID"):
        raise SubmissionError(f"{path}: header {list(sub.columns)} is not {want_header}")
    if len(sub) != len(test_rows):
        raise SubmissionError(f"{path}: {len(sub)} rows, the test CSV has {len(test_rows)}")
    ids = sub.iloc[:, 0].to_numpy()
    ts = sub.iloc[:, 1].to_numpy()
    bad = np.flatnonzero(
        (ids != test_rows["video_id"].to_numpy()) | (ts != test_rows["timestamp_us"].to_numpy())
    )
    if len(bad):
        i = int(bad[0])
        raise SubmissionError(
            f"{path}: line {i + 2} is ({ids[i]}, {ts[i]}), the test CSV's row {i + 1} is "
            f"({test_rows['video_id'].iloc[i]}, {test_rows['timestamp_us'].iloc[i]}); "
            f"{len(bad)} rows differ"
        )
    scores = sub[targets].to_numpy(np.float64)
    if not np.isfinite(scores).all():
        i = int(np.flatnonzero(~np.isfinite(scores).all(axis=1))[0])
        raise SubmissionError(f"{path}: line {i + 2} has a missing or non-finite score")
    bounds = parse_range(target_range)
    if bounds is not None:
        out = ((scores < bounds[0]) | (scores > bounds[1])).any(axis=1)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise SubmissionError(f"{path}: line {i + 2} has a score outside "
                                  f"[{bounds[0]:g}, {bounds[1]:g}] (target_range)")


def write_submission(
    out: pd.DataFrame,
    test_rows: pd.DataFrame,
    targets: list[str],
    csv_path: str | os.PathLike,
    report: FillReport,
    report_path: str | os.PathLike,
    target_range=(0.0, 1.0),
) -> None:
    """Write the CSV (scores clipped to ``target_range``: a linear head, the TCN's, can step
    outside it), validate the written file, then put it and the fill report in place."""
    bounds = parse_range(target_range)
    if bounds is not None:
        out = out.copy()
        out[targets] = out[targets].clip(*bounds)
    with atomic_path(csv_path) as tmp:
        predictions_table(out, targets).to_csv(tmp, index=False, float_format="%.6f")
        validate_submission(tmp, test_rows, targets, bounds)
    write_json(asdict(report), report_path)
