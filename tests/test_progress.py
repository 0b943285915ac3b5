"""Progress lines (eevflow.progress): tqdm's meter as whole log lines, at the interval, and a final
line however short the loop."""

import logging
import re

import pytest

from eevflow.manifest import check_videos
from eevflow.progress import ENV, interval_s, progress

LOGGER = "eevflow.progress"
# "<desc>: <n>/<total> videos [<elapsed><<left>, <rate> videos/s<, postfix>]"
LINE = re.compile(r"^job x: (\d+)/(\d+) videos \[(\d\d:\d\d)<(\d\d:\d\d|\?), "
                  r"(\d+\.\d\d|\?) videos/s(, .*)?\]$")


class Clock:
    """tqdm's clock, moved by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr("tqdm.std.time", c)
    return c


def _lines(caplog):
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_lines_are_whole_and_carry_counts_rate_and_time_left(caplog, clock, monkeypatch):
    monkeypatch.setenv(ENV, "0")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in progress(range(4), desc="job x", unit="videos"):
            clock.t += 2.0  # 2 s a video
    lines = _lines(caplog)
    assert all("\r" not in s and "\n" not in s and s == s.strip() for s in lines), lines
    parsed = [LINE.match(s) for s in lines]
    assert all(parsed), lines
    assert [int(m[1]) for m in parsed] == [0, 1, 2, 3, 4] and {m[2] for m in parsed} == {"4"}
    # after 2 of 4 videos at 2 s each: 4 s gone, 4 s left, half a video a second
    assert parsed[2].group(3, 4, 5) == ("00:04", "00:04", "0.50"), lines[2]
    assert lines[-1] == "job x: 4/4 videos [00:08<00:00, 0.50 videos/s]"


def test_a_line_every_interval_and_always_a_final_one(caplog, clock, monkeypatch):
    monkeypatch.setenv(ENV, "5")
    with caplog.at_level(logging.INFO, logger=LOGGER):
        bar = progress(range(20), desc="job x", unit="videos")
        for i in bar:
            clock.t += 1.0  # a video a second: a line every 5 videos
            bar.set_postfix(rows=10 * (i + 1))  # waits for the next line
    counts = [int(LINE.match(s)[1]) for s in _lines(caplog)]
    assert counts == [0, 5, 10, 15, 20], _lines(caplog)
    assert _lines(caplog)[-1] == "job x: 20/20 videos [00:20<00:00, 1.00 videos/s, rows=200]"


def test_a_short_job_logs_its_start_and_its_final_line(caplog, clock, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)  # the default interval: 5 s
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in progress(["a", "b", "c"], desc="job x", unit="videos"):
            clock.t += 0.5
    assert _lines(caplog) == ["job x: 0/3 videos [00:00<?, ? videos/s]",
                              "job x: 3/3 videos [00:01<00:00, 2.00 videos/s]"]


def test_counted_by_hand_without_a_total(caplog, clock):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        with progress(desc="extract e", unit="rows", mininterval=10) as bar:
            for _ in range(30):
                clock.t += 1.0
                bar.update(50)
    assert _lines(caplog) == ["extract e: 0 rows [00:00, ? rows/s]",
                              "extract e: 500 rows [00:10, 50.00 rows/s]",
                              "extract e: 1000 rows [00:20, 50.00 rows/s]",
                              "extract e: 1500 rows [00:30, 50.00 rows/s]"]


def test_lines_go_to_the_given_logger_at_its_level(caplog):
    logger = logging.getLogger("eevflow.somejob")
    with caplog.at_level(logging.DEBUG, logger="eevflow.somejob"):
        list(progress(range(2), desc="d", unit="videos", logger=logger, level=logging.DEBUG))
    records = [r for r in caplog.records if r.name == "eevflow.somejob"]
    assert records and all(r.levelno == logging.DEBUG for r in records)
    assert records[-1].getMessage().startswith("d: 2/2 videos [")


@pytest.mark.parametrize("raw, expected", [("", 5.0), ("0", 0.0), ("2.5", 2.5)])
def test_the_interval_comes_from_the_environment(monkeypatch, raw, expected):
    monkeypatch.setenv(ENV, raw)
    assert interval_s() == expected


@pytest.mark.parametrize("raw", ["soon", "-1", "nan", "inf"])
def test_a_bad_interval_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv(ENV, raw)
    with pytest.raises(ValueError, match=f"{ENV} must be a number of seconds >= 0, not"):
        progress(range(2), desc="d", unit="videos")


def test_the_download_check_loop_logs_its_progress_with_the_statuses(caplog, tmp_path):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        df = check_videos(["abcdefghijk", "bcdefghijkl"], str(tmp_path), [".mp4"],
                          desc="download_check split val shard 001")
    assert list(df["status"]) == ["missing", "missing"]
    assert re.fullmatch(r"download_check split val shard 001: 2/2 videos "
                        r"\[\d\d:\d\d<00:00, [\d.]+ videos/s, missing=2\]", _lines(caplog)[-1])
