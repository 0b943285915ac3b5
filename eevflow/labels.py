"""EEV label files: reading, validation and the predictions layout.

EEV CSVs (google-research-datasets/eev) have a header row; column 0 is the video ID (``YouTube ID``
in train/val, ``Video ID`` in test), column 1 the timestamp in **microseconds** (whatever the header
says), columns 2.. the scores of each target in [0, 1]. The released test CSV has only the first two
columns. A row whose scores are all 0 means that no face was detected: it is no label, and is
marked ``detected = False`` here rather than dropped, so that every consumer decides what to do.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

ID_COLUMNS = ("YouTube ID", "Video ID")
TIMESTAMP_HEADER = "Timestamp (milliseconds)"  # the released files' header; the values are in µs
UNDETECTED_SUM = 1e-6  # the winner's code: a row whose scores sum to <= this is "no detection"


class LabelFileError(ValueError):
    """A label file that cannot be used, with the file, the line and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def _first_bad_line(mask: np.ndarray) -> int:
    """1-based file line of the first True row (line 1 is the header)."""
    return int(np.flatnonzero(mask)[0]) + 2


def read_video_ids(path: str | os.PathLike) -> list[str]:
    """The distinct video IDs of a label file, in order of first appearance (reads column 0 only)."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(path, "file not found")
    with open(path, encoding="utf-8") as fh:
        id_column = next(csv.reader(fh), [""])[0].strip()  # quoted headers too
    if id_column not in ID_COLUMNS:
        raise LabelFileError(path, f"column 0 must be one of {list(ID_COLUMNS)}", line=1)
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                include_columns=[id_column], column_types={id_column: pa.string()}
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LabelFileError(path, f"not a readable EEV CSV ({exc})") from None
    return list(pd.unique(table.column(0).to_numpy(zero_copy_only=False)))


def read_labels(
    path: str | os.PathLike, targets: list[str], require_scores: bool = True
) -> pd.DataFrame:
    """Read and validate one EEV-format CSV.

    Returns a frame with columns ``video_id`` (str), ``timestamp_us`` (int64), one float32 column per
    target (absent when the file has no score columns and ``require_scores`` is False) and
    ``detected`` (bool; False for all-zero rows, True when there are no scores).
    Raises :class:`LabelFileError` naming the file, the line and the problem.
    """
    path = Path(path)
    try:
        df = pd.read_csv(path, dtype={0: str}, keep_default_na=False, na_values=[""])
    except FileNotFoundError:
        raise LabelFileError(path, "file not found") from None
    except pd.errors.ParserError as exc:
        found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if found:
            want, line, saw = (int(v) for v in found.groups())
            raise LabelFileError(path, f"{saw} fields, the header has {want}", line=line) from None
        raise LabelFileError(path, f"not a readable EEV CSV ({exc})") from None
    except (pd.errors.EmptyDataError, ValueError) as exc:
        raise LabelFileError(path, f"not a readable EEV CSV ({exc})") from None
    cols = list(df.columns)
    if not cols or cols[0] not in ID_COLUMNS:
        raise LabelFileError(
            path, f"column 0 must be one of {list(ID_COLUMNS)}, found {cols[:1]}", line=1
        )
    n_scores = len(cols) - 2
    if n_scores == 0 and not require_scores:
        has_scores = False
    elif n_scores == len(targets):
        has_scores = True
    else:
        want = f"2 + {len(targets)} targets" + ("" if require_scores else " or 2 (no scores)")
        raise LabelFileError(path, f"expected {want} columns, found {len(cols)}", line=1)
    if has_scores and [c.strip() for c in cols[2:]] != list(targets):
        raise LabelFileError(
            path, f"score columns {cols[2:]} do not match the configured targets {targets}", line=1
        )

    out = pd.DataFrame({"video_id": df.iloc[:, 0].astype(str)})
    if df.iloc[:, 0].isna().any():
        raise LabelFileError(path, "empty video ID", _first_bad_line(df.iloc[:, 0].isna().to_numpy()))
    ts = pd.to_numeric(df.iloc[:, 1], errors="coerce")
    bad = ts.isna().to_numpy() | (ts.to_numpy() < 0) | (ts.to_numpy() % 1 != 0)
    if bad.any():
        raise LabelFileError(
            path, "timestamp is not a non-negative integer (microseconds)", _first_bad_line(bad)
        )
    out["timestamp_us"] = ts.astype(np.int64).to_numpy()

    if has_scores:
        scores = df.iloc[:, 2:].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
        nan = np.isnan(scores).any(axis=1)
        if nan.any():
            raise LabelFileError(path, "missing or non-numeric score", _first_bad_line(nan))
        rng = ((scores < 0) | (scores > 1)).any(axis=1)
        if rng.any():
            raise LabelFileError(path, "score outside [0, 1]", _first_bad_line(rng))
        for i, name in enumerate(targets):
            out[name] = scores[:, i].astype(np.float32)
        out["detected"] = scores.sum(axis=1) > UNDETECTED_SUM
    else:
        out["detected"] = True

    _check_order(path, out)
    return out


def _check_order(path, df: pd.DataFrame) -> None:
    """Each video's rows contiguous, timestamps strictly increasing within a video."""
    vid = df["video_id"].to_numpy()
    ts = df["timestamp_us"].to_numpy()
    starts = np.r_[True, vid[1:] != vid[:-1]]
    seg_ids = vid[starts]
    if len(set(seg_ids)) != len(seg_ids):
        seen: set[str] = set()
        for row in np.flatnonzero(starts):
            if vid[row] in seen:
                raise LabelFileError(
                    path, f"rows of video {vid[row]!r} are not contiguous", int(row) + 2
                )
            seen.add(vid[row])
    same = ~starts[1:]
    dup = np.r_[False, same & (ts[1:] == ts[:-1])]
    if dup.any():
        raise LabelFileError(path, "duplicate timestamp within a video", _first_bad_line(dup))
    back = np.r_[False, same & (ts[1:] < ts[:-1])]
    if back.any():
        raise LabelFileError(path, "timestamps not increasing within a video", _first_bad_line(back))


def write_labels_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a validated label frame (atomically) for the workflow's later stages."""
    from eevflow.io import atomic_path

    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def predictions_table(
    df: pd.DataFrame, targets: list[str], id_column: str = "Video ID"
) -> pd.DataFrame:
    """Predictions in the EEV submission layout: ``Video ID,Timestamp (milliseconds),<targets>``."""
    out = pd.DataFrame({id_column: df["video_id"], TIMESTAMP_HEADER: df["timestamp_us"]})
    for name in targets:
        out[name] = df[name].to_numpy()
    return out


def write_predictions_csv(
    df: pd.DataFrame, targets: list[str], path: str | os.PathLike, id_column: str = "Video ID"
) -> None:
    """Write :func:`predictions_table` to ``path`` atomically."""
    from eevflow.io import atomic_path

    with atomic_path(path) as tmp:
        predictions_table(df, targets, id_column).to_csv(tmp, index=False, float_format="%.6f")
