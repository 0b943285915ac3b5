"""EEV label files: reading, validation and the predictions layout.

EEV CSVs (google-research-datasets/eev) have a header row; column 0 is the video ID (``YouTube ID``
in train/val, ``Video ID`` in test), column 1 the timestamp in **microseconds** (whatever the header
says), columns 2.. the scores of each target in [0, 1]. The released test CSV has only the first two
columns. A row whose scores are all 0 means that no face was detected: it is no label, and is
marked ``detected = False`` here rather than dropped, so that every consumer decides what to do.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from eevflow.targets import parse_range

ID_COLUMNS = ("YouTube ID", "Video ID")
TIMESTAMP_HEADER = "Timestamp (milliseconds)"  # the released files' header; the values are in µs
UNDETECTED_SUM = 1e-6  # the winner's code: a row whose scores sum to <= this is "no detection"
HEADER_MAX_BYTES = 1 << 20  # a header row longer than this is not an EEV CSV header


LABEL_HZ = 6  # EEV's label rate


def label_times_us(n: int) -> np.ndarray:
    """The times of ``n`` label rows at 6 Hz, in integer microseconds: ``round(i * 1e6 / 6)``."""
    return np.rint(np.arange(n) * (1e6 / LABEL_HZ)).astype(np.int64)


class LabelFileError(ValueError):
    """A label file that cannot be used, with the file, the line and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str, line: int | None = None):
        where = f"{path}" if line is None else f"{path}, line {line}"
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


def _first_bad_line(mask: np.ndarray) -> int:
    """1-based file line of the first True row (line 1 is the header)."""
    return int(np.flatnonzero(mask)[0]) + 2


def _header_row_end(head: bytes, start: int) -> tuple[int, int] | None:
    """Where the CSV row that begins at ``head[start]`` ends and the next one begins, honouring
    quoted fields (which may hold ',', '"' doubled, and line ends); LF, CRLF and CR all end it.
    None if ``head`` holds no line end outside quotes."""
    field_start, unquoted, quoted, quote_in_quoted = range(4)
    state = field_start
    for i in range(start, len(head)):
        c = head[i]
        if state == quoted:
            if c == 0x22:  # '"': closes the field, or starts an escaped '""'
                state = quote_in_quoted
            continue
        if c in (0x0A, 0x0D):  # '\n', '\r'
            return i, i + 2 if head[i : i + 2] == b"\r\n" else i + 1
        if c == 0x2C:  # ','
            state = field_start
        elif c == 0x22 and state in (field_start, quote_in_quoted):
            state = quoted
        else:
            state = unquoted
    return None


def _read_header(path: str | os.PathLike) -> tuple[list[str], int]:
    """The header's column names (see :func:`read_header`) and the byte offset of the first data
    row, so that a reader can start there with the names given explicitly."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEADER_MAX_BYTES + 2)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise LabelFileError(path, "file not found") from None
    start = len(codecs.BOM_UTF8) if head.startswith(codecs.BOM_UTF8) else 0
    found = _header_row_end(head, start)
    if found is None:
        if len(head) > HEADER_MAX_BYTES:
            raise LabelFileError(
                path, f"no line end in the first {HEADER_MAX_BYTES} bytes: not a CSV header", 1
            )
        found = len(head), len(head)  # a header row and no data
    end, data_offset = found
    try:
        text = head[start:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelFileError(path, f"header is not UTF-8 text ({exc})", line=1) from None
    try:
        fields = next(csv.reader(io.StringIO(text, newline="")), [])
    except csv.Error as exc:
        raise LabelFileError(path, f"unreadable header ({exc})", line=1) from None
    return [f.strip() for f in fields], data_offset


def read_header(path: str | os.PathLike) -> list[str]:
    """The column names of a label CSV's header row, as every reader here sees them.

    UTF-8 with or without a byte order mark; LF, CRLF or CR line ends; fields quoted or not
    (quoted ones may hold ',' and line ends); whitespace around each name is dropped.
    """
    return _read_header(path)[0]


def check_id_column(path: str | os.PathLike, header: list[str]) -> str:
    """Column 0's name if it is one of :data:`ID_COLUMNS`, else :class:`LabelFileError` quoting
    (with repr, so that stray characters show) what the header holds."""
    found = repr(header[0]) if header else "an empty header"
    if not header or header[0] not in ID_COLUMNS:
        raise LabelFileError(
            path, f"column 0 must be one of {list(ID_COLUMNS)}, found {found}", line=1
        )
    return header[0]


def read_video_ids(path: str | os.PathLike) -> list[str]:
    """The distinct video IDs of a label file, in order of first appearance.

    Fast on big files: pyarrow reads only column 0, from the first data row on, with the
    column names of :func:`read_header` given explicitly (so a BOM or an odd header cannot make
    it disagree with :func:`read_labels`).
    """
    path = Path(path)
    header, data_offset = _read_header(path)
    check_id_column(path, header)
    names = [f"column_{i}" for i in range(len(header))]
    try:
        with pa.OSFile(str(path)) as fh:
            if data_offset >= fh.size():
                return []
            fh.seek(data_offset)
            table = pacsv.read_csv(
                fh,
                read_options=pacsv.ReadOptions(column_names=names),
                convert_options=pacsv.ConvertOptions(
                    include_columns=names[:1], column_types={names[0]: pa.string()}
                ),
            )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        if "Empty CSV file" in str(exc):  # only blank lines after the header
            return []
        raise LabelFileError(path, f"not a readable EEV CSV ({exc})") from None
    return list(pd.unique(table.column(0).to_numpy(zero_copy_only=False)))


def read_label_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Every column of a label (or predictions) CSV, unvalidated: the column names are those of
    :func:`read_header`, column 0 is str (``NA`` and the like stay strings; an empty field is
    NaN). Raises :class:`LabelFileError` for a missing file, a wrong column 0 and a row with more
    fields than the header, naming the line."""
    path = Path(path)
    header = read_header(path)
    check_id_column(path, header)
    try:
        df = pd.read_csv(
            path, dtype={0: str}, keep_default_na=False, na_values=[""], encoding="utf-8-sig"
        )
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
    if not isinstance(df.index, pd.RangeIndex):
        # pandas takes the leading fields as the index when the first data row is longer
        saw = len(header) + df.index.nlevels
        raise LabelFileError(path, f"{saw} fields, the header has {len(header)}", line=2)
    if len(df.columns) != len(header):
        raise LabelFileError(
            path, f"{len(df.columns)} columns read, the header row has {len(header)}", line=1
        )
    df.columns = header
    return df


def read_labels(
    path: str | os.PathLike, targets: list[str], require_scores: bool = True,
    target_range: tuple[float, float] | list[float] | None = (0.0, 1.0),
) -> pd.DataFrame:
    """Read and validate one EEV-format CSV.

    Returns a frame with columns ``video_id`` (str), ``timestamp_us`` (int64), one float32 column per
    target (absent when the file has no score columns and ``require_scores`` is False) and
    ``detected`` (bool; False for all-zero rows, True when there are no scores). Scores must lie in
    ``target_range`` (config ``target_range``; None: any finite value); only in EEV's [0, 1] is an
    all-zero row "no face detected" (elsewhere, e.g. arousal/valence in [-1, 1], 0 is a value).
    Raises :class:`LabelFileError` naming the file, the line and the problem.
    """
    path = Path(path)
    df = read_label_csv(path)
    cols = list(df.columns)
    n_scores = len(cols) - 2
    if n_scores == 0 and not require_scores:
        has_scores = False
    elif n_scores == len(targets):
        has_scores = True
    else:
        want = f"2 + {len(targets)} targets" + ("" if require_scores else " or 2 (no scores)")
        raise LabelFileError(path, f"expected {want} columns, found {len(cols)}", line=1)
    if has_scores and cols[2:] != list(targets):
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
        bounds = parse_range(target_range)
        if bounds is None:
            rng = ~np.isfinite(scores).all(axis=1)
            what = "score is not finite"
        else:
            rng = ((scores < bounds[0]) | (scores > bounds[1])).any(axis=1)
            what = f"score outside [{bounds[0]:g}, {bounds[1]:g}] (target_range)"
        if rng.any():
            raise LabelFileError(path, what, _first_bad_line(rng))
        for i, name in enumerate(targets):
            out[name] = scores[:, i].astype(np.float32)
        if bounds == (0.0, 1.0):
            out["detected"] = scores.sum(axis=1) > UNDETECTED_SUM
        else:
            out["detected"] = True
    else:
        out["detected"] = True

    _check_order(path, out)
    return out


def _check_order(path, df: pd.DataFrame) -> None:
    """Each video's rows contiguous, timestamps strictly increasing within a video."""
    if df.empty:  # a header and no rows: nothing to order (read_video_ids gives [])
        return
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
    """Write a validated label frame (atomically) for the workflow's later stages: one row group
    per video (its rows are contiguous), so training and prediction read one video's labels at a
    time (``eevflow.split_stream.open_split``) instead of the whole split's. ``pd.read_parquet``
    gives the frame back as it was."""
    import pyarrow.parquet as pq

    from eevflow.io import atomic_path

    table = pa.Table.from_pandas(df, preserve_index=False)
    ids = df["video_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], int)
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, table.schema, compression="snappy") as writer:
            for a, b in zip(starts, np.r_[starts[1:], len(ids)]):
                writer.write_table(table.slice(a, b - a))


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
