"""The training set's mean label curve over time: the fallback for test videos a model could not
predict (``submission.fill: mean_curve``).

A constant fallback (the model's mean prediction, or zeros) has no variance, so each such video
scores -1 under the winner's ``constant_policy: minus_one``; a curve over the video's time is
scored like any prediction. The curve's value at 6 Hz row ``i`` (``round(t x 6)``) is the mean of
the training set's detected labels at that row over the videos labelled there. Rows where fewer
than ``min_videos`` videos (or half the training videos, if that is fewer) are labelled take the
last value before them that enough videos support (rows before the first supported one, the
first supported value), so the long tail of a few long videos does not make it noisy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from eevflow.labels import LABEL_HZ, label_times_us



@dataclass
class LabelCurve:
    values: np.ndarray  # (rows, n_targets) float64: the curve at 6 Hz rows 0 .. rows - 1
    support: np.ndarray  # (rows,) int: training videos labelled at each row
    min_videos: int  # the support a row's own value needed

    def at(self, timestamps_us: np.ndarray) -> np.ndarray:
        """(len(timestamps_us), n_targets): the curve at those times (held past its end)."""
        idx = np.rint(np.asarray(timestamps_us, np.float64) * LABEL_HZ / 1e6).astype(np.int64)
        return self.values[np.clip(idx, 0, len(self.values) - 1)]


def mean_label_curve(labels: pd.DataFrame, targets: list[str], min_videos: int = 10) -> LabelCurve:
    """The curve of ``labels`` (the labels rule's frame: video_id, timestamp_us, the targets,
    detected) from its detected rows (module docstring)."""
    rows = labels[labels["detected"].astype(bool)] if "detected" in labels else labels
    if rows.empty:
        raise ValueError("no detected training labels to build the mean label curve from")
    need = max(1, min(int(min_videos), labels["video_id"].nunique() // 2))
    idx = np.rint(rows["timestamp_us"].to_numpy(np.float64) * LABEL_HZ / 1e6).astype(np.int64)
    n = int(idx.max()) + 1
    scores = rows[targets].to_numpy(np.float64)
    sums = np.zeros((n, len(targets)))
    np.add.at(sums, idx, scores)
    support = np.bincount(idx, minlength=n)
    ok = support >= need
    if not ok.any():  # no row is labelled in enough videos: the overall mean, held
        return LabelCurve(scores.mean(axis=0)[None], support[:1], need)
    last = int(np.flatnonzero(ok)[-1])
    values = np.full((last + 1, len(targets)), np.nan)
    sel = ok[: last + 1]
    values[sel] = sums[: last + 1][sel] / support[: last + 1][sel, None]
    frame = pd.DataFrame(values).ffill().bfill()
    return LabelCurve(frame.to_numpy(), support[: last + 1], need)


def write_curve(curve: LabelCurve, targets: list[str], path) -> None:
    """The curve as Parquet (row, timestamp_us, support, one column per target), atomically."""
    from eevflow.io import atomic_path

    n = len(curve.values)
    df = pd.DataFrame(curve.values, columns=targets)
    df.insert(0, "support", curve.support.astype(np.int64))
    df.insert(0, "timestamp_us", label_times_us(n))
    df.insert(0, "row", np.arange(n, dtype=np.int64))
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def read_curve(path, targets: list[str], min_videos: int = 0) -> LabelCurve:
    df = pd.read_parquet(path)
    if df["row"].tolist() != list(range(len(df))):
        raise ValueError(f"{path}: rows are not 0 .. {len(df) - 1}")
    return LabelCurve(df[targets].to_numpy(np.float64), df["support"].to_numpy(), min_videos)
