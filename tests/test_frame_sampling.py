"""``decode.frame_sampling``: ``label_time`` gives each row the frame on screen at its time,
``tpf_linspace`` the EEV 2021 winner's evenly spread frames (th2l/EvokedExpr-TPF ``read_video``),
checked on real coded files whose frame ``i`` shows ``i`` (a 10-bit stripe code)."""

from __future__ import annotations

import copy
import fractions
import json
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

import badmedia
import mediamatrix
from eevflow import frame_sampling
from eevflow.config import ConfigError, validate_config
from eevflow.decoded_shard import INDEX, decode_shard, iter_shard
from eevflow.decoding import decode_video, load_decoded

F = fractions.Fraction
REPO = Path(__file__).resolve().parents[1]
SIZE = (160, 120)  # 16-pixel stripes; 224 x 168 once decoded, 28 rows of padding above and below
BITS = 10  # codes up to 1023: every frame of a 10 s, 30 fps clip


def tpf_formula(n_frames: int, n_rows: int) -> np.ndarray:
    """TPF's frame indices, as its read_video writes them."""
    segment_len = int(n_frames / n_rows)
    return np.linspace(segment_len // 2, n_frames, num=n_rows, dtype=int, endpoint=False)


def write_coded(path: Path, pts: list[int], time_base: F, fps: F, vopts=None) -> list[F]:
    """H.264 (B-frames) whose frame i shows code i and starts at ``pts[i] * time_base``; returns
    the exact start times."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options=vopts or {"bf": "3", "g": "60"})
        vs.width, vs.height, vs.pix_fmt = *SIZE, "yuv420p"
        vs.codec_context.time_base = vs.time_base = time_base
        for i, p in enumerate(pts):
            img = badmedia.code_frame(i, SIZE, BITS)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = p
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    return [p * time_base for p in pts]


def shown(frames: np.ndarray) -> np.ndarray:
    return np.array([badmedia.read_code(f[28:-28], BITS) for f in frames])


def labels_6hz(stop_s: float) -> np.ndarray:
    return (np.arange(int(stop_s * 6)) * 1e6 / 6).round().astype(np.int64)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A 10 s, 30 fps MP4 and a variable-frame-rate MKV (gaps of 1/48 and 3/48 s), each with
    6 Hz labels that stop at 6 s (the videos run on)."""
    d = tmp_path_factory.mktemp("sampling")
    cfr = write_coded(d / "cfr30.mp4", list(range(300)), F(1, 30), F(30))
    vfr = write_coded(d / "vfr.mkv", badmedia.vfr_pts(240), badmedia.VFR_TIME_BASE, F(24))
    return {
        "cfr30": (d / "cfr30.mp4", cfr, labels_6hz(6.0)),
        "vfr": (d / "vfr.mkv", vfr, labels_6hz(6.0)),
    }


def _decode(clips, out: Path, **kw):
    videos = [(c, str(p)) for c, (p, _, _) in clips.items()]
    stamps = {c: ts for c, (_, _, ts) in clips.items()}
    decode_shard(out, videos, stamps, **kw)
    return {v.info.video_id: v for v in iter_shard(out, "visual")}


def test_tpf_indices_equal_the_linspace_formula_on_30fps_labels_stopping_early(clips, tmp_path):
    got = _decode(clips, tmp_path / "shard", frame_sampling="tpf_linspace")
    for case, (_, starts, ts) in clips.items():
        video = got[case]
        want = tpf_formula(len(starts), len(ts))
        np.testing.assert_array_equal(shown(np.asarray(video.frames)), want)  # the pixels
        assert video.info.frame_indices == want.tolist()  # the meta's account
        assert video.info.frame_sampling == "tpf_linspace" and video.info.decoder == "pyav"
        assert video.info.n_frames == len(starts)
        np.testing.assert_allclose(video.info.frame_times_s, [float(starts[i]) for i in want],
                                   atol=1e-3)
    # 300 frames, 36 rows (6 Hz to 6 s): frames 4, 12, 20, ..., 291, spread over all 10 s
    cfr = got["cfr30"].info.frame_indices
    assert len(cfr) == 36 and cfr[:3] == [4, 12, 20] and cfr[-1] == 291
    assert json.loads((tmp_path / "shard" / INDEX).read_text())["frame_sampling"] == "tpf_linspace"


def test_label_time_gives_the_frame_on_screen_at_each_label_time(clips, tmp_path):
    got = _decode(clips, tmp_path / "shard")
    for case, (_, starts, ts) in clips.items():
        truth = mediamatrix.Truth(tuple(starts), 0, len(starts) - 1)
        want = np.array([truth.frame_at(t) for t in ts])
        video = got[case]
        np.testing.assert_array_equal(shown(np.asarray(video.frames)), want)
        assert video.info.frame_indices == want.tolist()
        assert video.info.frame_sampling == "label_time"
    # at 30 fps, label i (i / 6 s) shows frame 5 i: the last row is frame 175, not TPF's 291
    assert got["cfr30"].info.frame_indices[-1] == 175
    assert not np.array_equal(got["cfr30"].info.frame_indices,
                              tpf_formula(300, 36))  # the two rules differ here


@pytest.mark.parametrize("store, frames_file", [("raw", "f.npy"), ("compressed", "f.arrow")])
@pytest.mark.parametrize("wrong", [-37, 41])
def test_a_wrong_packet_count_is_corrected_by_a_second_pass(clips, tmp_path, monkeypatch, wrong,
                                                            store, frames_file):
    """The second pass rewrites every row: in place (raw) or from a fresh file (compressed)."""
    path, starts, ts = clips["cfr30"]
    real = frame_sampling.count_frames(str(path))
    assert real == len(starts) == 300  # the demux-only count is right on this file
    monkeypatch.setattr(frame_sampling, "count_frames", lambda p: real + wrong)
    audio = tmp_path / ("a.npy" if store == "raw" else "a.flac")
    info = decode_video("cfr30", path, ts, tmp_path / frames_file, audio,
                        tmp_path / "m.json", frame_sampling="tpf_linspace", store=store)
    want = tpf_formula(300, len(ts))
    assert info.frame_indices == want.tolist() and info.n_frames == 300
    frames = load_decoded(str(tmp_path / "m.json"), str(tmp_path / frames_file), None).frames
    np.testing.assert_array_equal(shown(np.asarray(frames)), want)


def test_tpf_formula_edge_cases():
    for n_frames, n_rows in [(300, 36), (36, 36), (10, 36), (1, 5), (301, 1), (7, 3)]:
        idx = frame_sampling.tpf_linspace(n_frames, n_rows)
        np.testing.assert_array_equal(idx, tpf_formula(n_frames, n_rows))
        assert idx.min() >= 0 and idx.max() < n_frames and (np.diff(idx) >= 0).all()
    assert frame_sampling.tpf_linspace(300, 0).tolist() == []


def test_unknown_sampling_is_refused(clips, tmp_path):
    path, _, ts = clips["cfr30"]
    with pytest.raises(ValueError, match="label_time"):
        decode_video("cfr30", path, ts, tmp_path / "f.npy", tmp_path / "a.npy",
                     tmp_path / "m.json", frame_sampling="linspace")


def test_schema_default_and_allowed_values():
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    schema = REPO / "schemas" / "config.schema.yaml"
    assert validate_config(cfg, schema)["decode"]["frame_sampling"] == "label_time"
    ok = copy.deepcopy(cfg)
    ok.setdefault("decode", {})["frame_sampling"] = "tpf_linspace"
    assert validate_config(ok, schema)["decode"]["frame_sampling"] == "tpf_linspace"
    bad = copy.deepcopy(cfg)
    bad.setdefault("decode", {})["frame_sampling"] = "linspace"
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, schema)
    assert "decode.frame_sampling" in str(exc.value)
    assert "allowed values: ['label_time', 'tpf_linspace']" in str(exc.value)


@pytest.mark.parametrize("case", ["cut_nonkey_mp4", "hevc_bframes_mp4", "mpeg4_ntsc_mov"])
def test_tpf_counts_the_frames_a_player_shows(tmp_path, case):
    """A stream cut at a non-keyframe (the edit list hides 33 decodable frames), HEVC with
    B-frames, MPEG-4 Part 2 at 29.97 fps: frame k is the k-th frame shown, from the first frame in
    the file, and the demux-only count equals the decoded count (no second pass)."""
    path, truth = mediamatrix.write_cases(tmp_path / "videos", [case])[case]
    n = truth.last - truth.first + 1
    assert frame_sampling.count_frames(str(path)) == n
    ts = truth.label_times_us()[: len(truth.label_times_us()) // 2]  # labels stop half-way
    info = decode_video(case, path, ts, tmp_path / "f.npy", tmp_path / "a.npy",
                        tmp_path / "m.json", frame_sampling="tpf_linspace")
    want = tpf_formula(n, len(ts))
    codes = np.array([badmedia.read_code(f[52:-52]) for f in np.load(tmp_path / "f.npy")])
    np.testing.assert_array_equal(codes, want + truth.first)
    assert info.frame_indices == want.tolist() and info.n_frames == n


def test_decord_backend_honours_tpf_linspace(clips, tmp_path):
    """Last in this file: it loads decord (whose bundled libraries upset some PyAV encoders)."""
    pytest.importorskip("decord")
    path, starts, ts = clips["cfr30"]
    decode_shard(tmp_path / "shard", [("cfr30", str(path))], {"cfr30": ts}, backend="decord",
                 frame_sampling="tpf_linspace")
    video = next(iter_shard(tmp_path / "shard", "visual"))
    want = tpf_formula(len(starts), len(ts))
    assert video.info.decoder == "decord" and video.info.frame_sampling == "tpf_linspace"
    np.testing.assert_array_equal(shown(np.asarray(video.frames)), want)
    assert video.info.frame_indices == want.tolist()
