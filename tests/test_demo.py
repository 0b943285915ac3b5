"""The synthetic demo dataset: layout, determinism and the planted signal."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest

from eevflow import demo
from eevflow.demo import EXPRESSIONS, SPLITS, DemoSpec

decord = pytest.importorskip("decord")

TINY = DemoSpec(n_train=2, n_val=1, n_test=1, min_seconds=3.0, max_seconds=5.0)
NAMES = ",".join(EXPRESSIONS)
HEADER_TRAIN = f"YouTube ID,Timestamp (milliseconds),{NAMES}"
HEADER_TEST = "Video ID,Timestamp (milliseconds)"
HEADER_GT = f"Video ID,Timestamp (milliseconds),{NAMES}"


def _paths(root: Path) -> dict:
    return {
        "videos": root / "videos",
        "labels": {s: str(root / f"{s}.csv") for s in SPLITS},
        "gt": str(root / "test_ground_truth.csv"),
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo_a")
    p = _paths(root)
    demo.generate_demo(p["videos"], p["labels"], p["gt"], TINY)
    return p


def _all_ids():
    return [(s, v) for s in SPLITS for v in demo.demo_video_ids(s, TINY.count(s))]


def _read_csv(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _scores_by_video(path) -> dict[str, tuple[np.ndarray, np.ndarray, list[list[str]]]]:
    _, rows = _read_csv(path)
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r)
    return {
        v: (
            np.array([int(r[1]) for r in rs]),
            np.array([[float(x) for x in r[2:]] for r in rs]),
            rs,
        )
        for v, rs in out.items()
    }


# ---------------------------------------------------------------------------------------- API


def test_expressions_and_signal_table():
    assert len(EXPRESSIONS) == 15 and EXPRESSIONS[0] == "amusement" and EXPRESSIONS[-1] == "triumph"
    table = demo.signal_table()
    assert [t["expression"] for t in table] == list(EXPRESSIONS)
    for e, t in enumerate(table):
        assert t["modality"] == ("visual" if e % 2 == 0 else "audio")
        assert t["kind"] == (e // 2) % 6
        assert t["lag"] == 3 + e % 4
        assert t["sigma"] == 1.0 + 0.5 * (e % 3)


def test_video_ids():
    ids = {s: demo.demo_video_ids(s, 30) for s in SPLITS}
    for s in SPLITS:
        assert ids[s] == demo.demo_video_ids(s, 30)
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{11}", v) for v in ids[s])
        assert len(set(ids[s])) == 30
        assert demo.demo_video_ids(s, 5) == ids[s][:5]
    assert len(set(ids["train"]) | set(ids["val"]) | set(ids["test"])) == 90


def test_plan_variety_and_ranges():
    spec = DemoSpec()
    seen = {"fps": set(), "size": set(), "rate": set(), "channels": set()}
    for s in SPLITS:
        for v in demo.demo_video_ids(s, spec.count(s)):
            m = demo.plan_video(v, spec, s)
            assert (
                spec.min_seconds - 0.5 / m["fps"]
                <= m["duration_s"]
                <= spec.max_seconds + 0.5 / m["fps"]
            )
            assert m["n_labels"] == int(np.floor(m["duration_s"] * 6 + 1e-9))
            for mod in ("visual", "audio"):  # every kind occurs in every >= 20 s video
                assert {e["kind"] for e in m[f"{mod}_events"]} == set(range(6))
            seen["fps"].add(m["fps"])
            seen["size"].add((m["width"], m["height"]))
            seen["rate"].add(m["sample_rate"])
            seen["channels"].add(m["channels"])
    assert len(seen["fps"]) > 1 and len(seen["size"]) > 1
    assert len(seen["rate"]) > 1 and seen["channels"] == {1, 2}


def test_planted_signal_in_labels():
    """Labels follow the lagged, smoothed event indicator; a time shuffle destroys that."""
    spec = DemoSpec()
    rng = np.random.default_rng(0)
    for s, v in [
        ("train", demo.demo_video_ids("train", 1)[0]),
        ("val", demo.demo_video_ids("val", 1)[0]),
    ]:
        m = demo.plan_video(v, spec, s)
        ts, scores = demo.generate_labels(m, spec)
        ind = demo.event_indicators(m)
        ok = scores.sum(axis=1) > 1e-6
        for t in demo.signal_table():
            x = ind[t["modality"]][t["kind"]]
            lagged = np.r_[np.zeros(t["lag"]), x[: len(x) - t["lag"]]]
            y = scores[:, t["index"]]
            r = np.corrcoef(lagged[ok], y[ok])[0, 1]
            r_shuf = np.corrcoef(lagged[ok], rng.permutation(y[ok]))[0, 1]
            assert r > 0.75, (t, r)
            assert abs(r_shuf) < 0.3, (t, r_shuf)
        # unlagged cause correlates less than the lagged one (the lag is real)
        x0 = ind["visual"][0]
        assert (
            np.corrcoef(x0[ok], scores[ok, 0])[0, 1]
            < np.corrcoef(np.r_[np.zeros(3), x0[:-3]][ok], scores[ok, 0])[0, 1]
        )


def test_no_detection_runs():
    spec = DemoSpec()
    m = demo.plan_video(demo.demo_video_ids("test", 1)[0], spec, "test")
    _, scores = demo.generate_labels(m, spec)
    zero = scores.sum(axis=1) == 0
    assert 0.03 <= zero.mean() <= 0.08
    assert (scores[~zero] >= 1e-3).all() and (scores <= 1).all()
    runs = np.count_nonzero(np.diff(np.r_[0, zero.astype(int)]) == 1)
    assert 1 <= runs <= 3


# ---------------------------------------------------------------------------------------- files


def test_files_exist(built):
    for s, v in _all_ids():
        assert (built["videos"] / f"{v}.mp4").stat().st_size > 1000
    for path in [*built["labels"].values(), built["gt"]]:
        assert Path(path).is_file()
    leftovers = [p.name for p in built["videos"].parent.rglob("*") if ".tmp" in p.name]
    assert leftovers == []


def test_videos_decode(built):
    for s, v in _all_ids():
        m = demo.plan_video(v, TINY, s)
        path = str(built["videos"] / f"{v}.mp4")
        vr = decord.VideoReader(path)
        fps = vr.get_avg_fps()
        assert abs(fps - m["fps"]) < 1e-3
        assert abs(len(vr) / fps - m["duration_s"]) <= 1.0 / m["fps"] + 1e-9
        assert TINY.min_seconds - 1.0 / fps <= len(vr) / fps <= TINY.max_seconds + 1.0 / fps
        assert vr[0].shape == (m["height"], m["width"], 3)
        ar = decord.AudioReader(path, sample_rate=16000, mono=True)
        assert ar.shape[0] == 1
        assert abs(ar.shape[1] / 16000 - m["duration_s"]) <= 1.0 / m["fps"]
        assert float(np.abs(ar[:].asnumpy()).max()) > 0.05  # there is sound


def test_csv_layouts(built):
    for s in ("train", "val"):
        header, rows = _read_csv(built["labels"][s])
        assert ",".join(header) == HEADER_TRAIN
        assert {r[0] for r in rows} == set(demo.demo_video_ids(s, TINY.count(s)))
        assert all(len(r) == 17 for r in rows)
    header, rows = _read_csv(built["labels"]["test"])
    assert ",".join(header) == HEADER_TEST and all(len(r) == 2 for r in rows)
    header, gt_rows = _read_csv(built["gt"])
    assert ",".join(header) == HEADER_GT and all(len(r) == 17 for r in gt_rows)
    assert [r[:2] for r in gt_rows] == rows
    assert {r[0] for r in rows} == set(demo.demo_video_ids("test", TINY.count("test")))
    with open(built["labels"]["train"], "rb") as fh:
        assert fh.readline() == (HEADER_TRAIN + "\n").encode()


def test_timestamps_and_values(built):
    n_zero = 0
    for split, path in (
        ("train", built["labels"]["train"]),
        ("val", built["labels"]["val"]),
        ("test", built["gt"]),
    ):
        for v, (ts, scores, raw) in _scores_by_video(path).items():
            fps = demo.plan_video(v, TINY, split)["fps"]
            dur_us = len(decord.VideoReader(str(built["videos"] / f"{v}.mp4"))) / fps * 1e6
            n = len(ts)
            assert n == int(np.floor(dur_us * 6 / 1e6 + 1e-9))
            assert (ts == np.rint(np.arange(n) * 1e6 / 6)).all()  # microseconds at 6 Hz
            assert ts[-1] < dur_us
            assert ((scores >= 0) & (scores <= 1)).all()
            assert all(re.fullmatch(r"[01]\.\d{6}", x) for r in raw for x in r[2:])
            zero = (scores == 0).all(axis=1)
            n_zero += zero.sum()
            assert (scores[~zero].sum(axis=1) > 1e-6).all()  # no other row looks undetected
            assert (scores[~zero] > 0).all()
    assert n_zero > 0


def test_deterministic(built, tmp_path):
    other = _paths(tmp_path)
    # the second run goes through the command line, in two processes
    argv = [
        "--videos-dir",
        str(other["videos"]),
        "--train",
        other["labels"]["train"],
        "--val",
        other["labels"]["val"],
        "--test",
        other["labels"]["test"],
        "--test-ground-truth",
        other["gt"],
        "--n-train",
        "2",
        "--n-val",
        "1",
        "--n-test",
        "1",
        "--min-seconds",
        "3",
        "--max-seconds",
        "5",
        "--jobs",
        "2",
    ]
    assert demo.main(argv) == 0
    for s in SPLITS:
        assert Path(other["labels"][s]).read_bytes() == Path(built["labels"][s]).read_bytes()
    assert Path(other["gt"]).read_bytes() == Path(built["gt"]).read_bytes()
    for _, v in _all_ids():
        a = (built["videos"] / f"{v}.mp4").read_bytes()
        b = (other["videos"] / f"{v}.mp4").read_bytes()
        assert a == b, f"{v}.mp4 differs between runs"
    # and a different seed gives different data
    spec2 = DemoSpec(n_train=1, n_val=0, n_test=0, min_seconds=3, max_seconds=5, seed=1)
    v = demo.demo_video_ids("train", 1)[0]
    assert (
        demo.generate_labels(demo.plan_video(v, spec2, "train"), spec2)[1].tolist()
        != demo.generate_labels(demo.plan_video(v, TINY, "train"), TINY)[1].tolist()
    )


def test_visual_event_is_visible(built):
    checked = 0
    for s, v in _all_ids():
        m = demo.plan_video(v, TINY, s)
        inside = set()
        for e in m["visual_events"]:
            inside.update(range(e["start_frame"], e["end_frame"]))
        background = [j for j in range(m["n_frames"]) if j not in inside]
        if not m["visual_events"] or not background:
            continue
        ev = m["visual_events"][0]
        j_ev = (ev["start_frame"] + ev["end_frame"]) // 2
        j_bg = background[len(background) // 2]
        vr = decord.VideoReader(str(built["videos"] / f"{v}.mp4"))
        f_ev = vr[j_ev].asnumpy().astype(np.float32)
        f_bg = vr[j_bg].asnumpy().astype(np.float32)
        renderer = demo.FrameRenderer(m, TINY)
        # the decoded frames are what was rendered (up to compression) ...
        assert np.abs(f_ev - renderer.frame(j_ev)).mean() < 12
        assert np.abs(f_bg - renderer.frame(j_bg)).mean() < 12
        # ... and an event frame is far from the neutral background
        assert np.abs(f_ev - f_bg).mean() > 25, v
        assert f_ev.std() > 1.5 * f_bg.std()  # a photo has far more structure than the background
        checked += 1
    assert checked >= 2


def test_audio_event_is_audible(built):
    checked = 0
    for s, v in _all_ids():
        m = demo.plan_video(v, TINY, s)
        ar = decord.AudioReader(str(built["videos"] / f"{v}.mp4"), sample_rate=16000, mono=True)
        x = ar[:].asnumpy()[0]
        for ev in m["audio_events"]:
            what, freq = demo.AUDIO_KINDS[ev["kind"]]
            if what != "tone" or ev["end_s"] - ev["start_s"] < 0.4:
                continue
            n = 2048
            c = int((ev["start_s"] + ev["end_s"]) / 2 * 16000)
            seg = x[c - n // 4 : c + n // 4]
            spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n)) ** 2
            freqs = np.fft.rfftfreq(n, 1 / 16000)
            assert abs(freqs[spec.argmax()] - freq) <= 2 * 16000 / n, (v, ev)
            near = spec[np.abs(freqs - freq) <= 60].sum()
            assert near / spec.sum() > 0.9, (v, ev)
            checked += 1
        # the event is well above the background noise floor
        quiet = [
            t
            for t in np.arange(0.05, m["duration_s"] - 0.05, 0.05)
            if all(t < e["start_s"] - 0.1 or t > e["end_s"] + 0.1 for e in m["audio_events"])
        ]
        loud = [(e["start_s"] + e["end_s"]) / 2 for e in m["audio_events"]]
        if quiet and loud:
            rms = lambda t: float(np.sqrt(np.mean(x[int(t * 16000) : int(t * 16000) + 800] ** 2)))
            assert rms(loud[0]) > 10 * max(rms(t) for t in quiet[:5])
    assert checked >= 2
