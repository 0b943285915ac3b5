import numpy as np
import pandas as pd
import pytest

from conftest import TARGETS
from eevflow.labels import LabelFileError, read_labels, read_video_ids, write_predictions_csv


def _csv(path, id_col="YouTube ID", rows=None, targets=TARGETS):
    header = ",".join([id_col, "Timestamp (milliseconds)", *targets])
    path.write_text(header + "\n" + "\n".join(rows or []) + "\n")
    return path


def _row(vid, ts, scores):
    return ",".join([vid, str(ts), *(f"{s:.3f}" for s in scores)])


@pytest.mark.parametrize("id_col", ["YouTube ID", "Video ID"])
def test_reads_both_id_columns_and_marks_no_detection(tmp_path, id_col):
    rows = [
        _row("vidA", 0, [0.1] * 15),
        _row("vidA", 166667, [0.0] * 15),  # no face detected
        _row("vidA", 333333, [0.2] * 15),
        _row("vidB", 0, [0.5] * 15),
    ]
    df = read_labels(_csv(tmp_path / "l.csv", id_col, rows), TARGETS)
    assert list(df["video_id"]) == ["vidA", "vidA", "vidA", "vidB"]
    assert df["timestamp_us"].dtype == np.int64
    assert list(df["timestamp_us"]) == [0, 166667, 333333, 0]
    assert list(df["detected"]) == [True, False, True, True]
    assert df["amusement"].dtype == np.float32
    assert read_video_ids(tmp_path / "l.csv") == ["vidA", "vidB"]


def test_test_split_without_scores(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("Video ID,Timestamp (milliseconds)\nv1,0\nv1,166667\n")
    df = read_labels(path, TARGETS, require_scores=False)
    assert list(df.columns) == ["video_id", "timestamp_us", "detected"]
    with pytest.raises(LabelFileError, match="expected 2 \\+ 15"):
        read_labels(path, TARGETS, require_scores=True)


@pytest.mark.parametrize(
    "rows, problem, line",
    [
        (["v,0," + ",".join(["0.1"] * 14) + ",nan"], "missing or non-numeric", 2),
        (["v,0," + ",".join(["0.1"] * 14) + ",1.5"], "outside \\[0, 1\\]", 2),
        ([_row("v", 0, [0.1] * 15), _row("v", 0, [0.1] * 15)], "duplicate timestamp", 3),
        ([_row("v", 5, [0.1] * 15), _row("v", 1, [0.1] * 15)], "not increasing", 3),
        ([_row("a", 0, [0.1] * 15), _row("b", 0, [0.1] * 15), _row("a", 9, [0.1] * 15)],
         "not contiguous", 4),
        ([_row("v", -3, [0.1] * 15)], "non-negative integer", 2),
    ],
)
def test_errors_name_file_line_and_problem(tmp_path, rows, problem, line):
    path = _csv(tmp_path / "bad.csv", rows=rows)
    with pytest.raises(LabelFileError, match=problem) as exc:
        read_labels(path, TARGETS)
    assert exc.value.line == line
    assert str(path) in str(exc.value)


def test_wrong_id_header_and_column_count(tmp_path):
    with pytest.raises(LabelFileError, match="column 0"):
        read_labels(_csv(tmp_path / "a.csv", id_col="id", rows=[]), TARGETS)
    with pytest.raises(LabelFileError, match="columns"):
        read_labels(_csv(tmp_path / "b.csv", rows=[], targets=TARGETS[:3]), TARGETS)
    with pytest.raises(LabelFileError, match="not found"):
        read_labels(tmp_path / "missing.csv", TARGETS)
    long_row = _csv(tmp_path / "c.csv", rows=[_row("v", 0, [0.1] * 15), _row("v", 1, [0.1] * 16)])
    with pytest.raises(LabelFileError, match="18 fields, the header has 17") as exc:
        read_labels(long_row, TARGETS)
    assert exc.value.line == 3
    short_row = _csv(tmp_path / "d.csv", rows=[_row("v", 0, [0.1] * 15), _row("v", 1, [0.1] * 3)])
    with pytest.raises(LabelFileError, match="missing or non-numeric") as exc:
        read_labels(short_row, TARGETS)
    assert exc.value.line == 3


def test_predictions_layout(tmp_path):
    df = pd.DataFrame({"video_id": ["v", "v"], "timestamp_us": [0, 166667]})
    for t in TARGETS:
        df[t] = 0.25
    write_predictions_csv(df, TARGETS, tmp_path / "p.csv")
    text = (tmp_path / "p.csv").read_text().splitlines()
    assert text[0] == "Video ID,Timestamp (milliseconds)," + ",".join(TARGETS)
    assert text[2].startswith("v,166667,0.250000")


def test_quoted_csv_is_read(tmp_path):
    """CSV writers that quote strings (pyarrow, R, spreadsheets) give the same table."""
    from eevflow.labels import read_video_ids

    head = ",".join(f'"{c}"' for c in ["YouTube ID", "Timestamp (milliseconds)", *TARGETS])
    body = "\n".join(f'"v1",{t},' + ",".join(["0.1"] * 15) for t in (0, 166667))
    path = tmp_path / "quoted.csv"
    path.write_text(head + "\n" + body + "\n")
    assert read_video_ids(path) == ["v1"]
    df = read_labels(path, TARGETS)
    assert df["video_id"].tolist() == ["v1", "v1"] and df["timestamp_us"].tolist() == [0, 166667]
