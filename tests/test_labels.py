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


# --- one reader for every label CSV: BOM, CRLF, quoted and padded headers -------------------------

_PLAIN_ROWS = [
    _row("vidA", 0, [0.1] * 15),
    _row("vidA", 166667, [0.0] * 15),
    _row("NA", 0, [0.5] * 15),  # an ID that pandas' default NA handling would lose
    _row("vidB", 0, [0.25] * 15),
]


def _variant(path, kind, id_col="YouTube ID", rows=_PLAIN_ROWS):
    """The same table as bytes that editors, spreadsheets and other OSes write."""
    names = [id_col, "Timestamp (milliseconds)", *TARGETS]
    if "quoted" in kind:
        header = ",".join(f'"{n}"' for n in names)
    elif "padded" in kind:
        header = ",".join(f" {n}  " for n in names)
    else:
        header = ",".join(names)
    end = {"crlf": "\r\n", "cr": "\r"}.get(kind.split("+")[-1], "\n")
    data = (end.join([header, *rows]) + end).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if kind.startswith("bom") else b"") + data)
    return path


VARIANTS = ["bom", "crlf", "bom+crlf", "quoted", "bom+quoted+crlf", "padded", "cr"]


@pytest.mark.parametrize("kind", VARIANTS)
def test_every_reader_gives_the_plain_files_result(tmp_path, kind):
    from eevflow.labels import read_header, read_label_csv
    from eevflow.submission import validate_submission

    plain = _variant(tmp_path / "plain.csv", "plain")
    odd = _variant(tmp_path / f"{kind.replace('+', '_')}.csv", kind)
    assert odd.read_bytes() != plain.read_bytes()
    header = read_header(odd)
    assert header == read_header(plain) == ["YouTube ID", "Timestamp (milliseconds)", *TARGETS]
    assert read_video_ids(odd) == read_video_ids(plain) == ["vidA", "NA", "vidB"]
    raw = read_label_csv(odd)
    pd.testing.assert_frame_equal(raw, read_label_csv(plain))
    assert list(raw.columns) == header and raw.iloc[:, 0].tolist() == ["vidA", "vidA", "NA", "vidB"]
    assert not raw.astype(str).apply(lambda col: col.str.contains("\r")).any().any()
    labels = read_labels(odd, TARGETS)
    pd.testing.assert_frame_equal(labels, read_labels(plain, TARGETS))
    assert labels["video_id"].tolist() == ["vidA", "vidA", "NA", "vidB"]
    assert labels[TARGETS[-1]].tolist() == pytest.approx([0.1, 0.0, 0.5, 0.25])
    # the submission check reads back with the same reader (a label file is its own submission)
    validate_submission(odd, labels[["video_id", "timestamp_us"]], TARGETS)


@pytest.mark.parametrize("kind", ["plain", "bom+crlf"])
def test_test_split_variants_and_video_id_column(tmp_path, kind):
    rows = ["v1,0", "v1,166667", "v2,0"]
    path = _variant(tmp_path / "test.csv", kind, id_col="Video ID", rows=rows)
    path.write_bytes(path.read_bytes().replace(b"," + ",".join(TARGETS).encode(), b""))
    assert read_video_ids(path) == ["v1", "v2"]
    df = read_labels(path, TARGETS, require_scores=False)
    assert list(df.columns) == ["video_id", "timestamp_us", "detected"]
    assert df["timestamp_us"].tolist() == [0, 166667, 0]


def test_quoted_header_with_a_line_end_inside(tmp_path):
    """read_video_ids starts pyarrow after the header row as parsed here, not after line 1."""
    from eevflow.labels import read_header, read_label_csv

    path = tmp_path / "q.csv"
    path.write_bytes(b'\xef\xbb\xbf"YouTube ID","Timestamp\r\n(ms), really"\r\nv1,0\r\nv2,5\r\n')
    assert read_header(path) == ["YouTube ID", "Timestamp\r\n(ms), really"]
    assert read_video_ids(path) == ["v1", "v2"]
    assert read_label_csv(path).iloc[:, 0].tolist() == ["v1", "v2"]
    assert read_labels(path, TARGETS, require_scores=False)["timestamp_us"].tolist() == [0, 5]


@pytest.mark.parametrize(
    "first, shown",
    [
        ("\ufeffYouTube ID", r"'\ufeffYouTube ID'"),  # a second BOM (the first one is skipped)
        ("youtube_id", "'youtube_id'"),
        ('"YouTube ID\t"x', r"'YouTube ID\tx'"),
        ("", "''"),
    ],
)
def test_wrong_id_header_is_quoted_with_repr_by_every_reader(tmp_path, first, shown):
    from eevflow.labels import read_label_csv
    from eevflow.submission import SubmissionError, validate_submission

    path = tmp_path / "wrong.csv"
    path.write_bytes(b"\xef\xbb\xbf" + f"{first},Timestamp (milliseconds)\r\nv,0\r\n".encode())
    want = f"column 0 must be one of ['YouTube ID', 'Video ID'], found {shown}"
    for read in (read_video_ids, read_label_csv, lambda p: read_labels(p, TARGETS, False)):
        with pytest.raises(LabelFileError) as exc:
            read(path)
        assert want in str(exc.value) and exc.value.line == 1 and str(path) in str(exc.value)
    with pytest.raises(SubmissionError) as exc:
        validate_submission(path, pd.DataFrame({"video_id": ["v"], "timestamp_us": [0]}), [])
    assert want in str(exc.value)


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(LabelFileError, match="found an empty header"):
        read_video_ids(empty)
    only = tmp_path / "only.csv"
    only.write_bytes(b"\xef\xbb\xbfVideo ID,Timestamp (milliseconds)")  # no line end, no rows
    assert read_video_ids(only) == []
    assert read_labels(only, TARGETS, require_scores=False).empty
    with pytest.raises(LabelFileError, match="not found"):
        read_video_ids(tmp_path / "missing.csv")


def test_a_long_first_row_is_an_error_not_an_index(tmp_path):
    """pandas would take the extra leading field as the index and shift every column."""
    path = _csv(tmp_path / "long.csv", rows=[_row("v", 0, [0.1] * 16), _row("v", 1, [0.1] * 15)])
    with pytest.raises(LabelFileError, match="18 fields, the header has 17") as exc:
        read_labels(path, TARGETS)
    assert exc.value.line == 2
