import json

import numpy as np

from conftest import write_video
from eevflow.decoding import decode_video, frame_indices, load_decoded
from eevflow.streams import letterbox_shape
from eevflow.media import probe


def test_probe_ok_missing_empty_no_audio_and_garbage(tmp_path, small_video):
    ok = probe("clip", small_video)
    assert ok.status == "ok" and ok.has_audio
    assert abs(ok.duration_s - 3.0) < 0.1 and abs(ok.fps - 12) < 1e-6
    assert (ok.width, ok.height, ok.n_frames) == (160, 120, 36)
    assert probe("x", tmp_path / "nope.mp4").status == "missing"
    (tmp_path / "empty.mp4").write_bytes(b"")
    assert probe("e", tmp_path / "empty.mp4").status == "corrupt"
    (tmp_path / "text.mp4").write_text("this is not a video\n" * 50)
    bad = probe("t", tmp_path / "text.mp4")
    assert bad.status == "corrupt" and "not a media container" in bad.reason
    silent = probe("s", write_video(tmp_path / "silent.mp4", audio=False))
    assert silent.status == "no_audio"


def test_frame_indices_pick_the_frame_on_screen():
    starts = np.arange(10) / 4.0  # 4 fps
    ts = np.array([0, 248_000, 249_999, 250_000, 1_000_000, 99_000_000])
    # 249_999 µs is a rounded 0.25 s: within the 0.5 ms tolerance of frame 1's start
    assert frame_indices(ts, starts).tolist() == [0, 0, 1, 1, 4, 9]


def test_letterbox_shape():
    assert letterbox_shape(320, 240, 224) == (224, 168)
    assert letterbox_shape(240, 320, 224) == (168, 224)
    assert letterbox_shape(100, 100, 224) == (224, 224)


def test_decode_aligns_frames_with_label_times(tmp_path, small_video):
    ts = (np.arange(18) * 1e6 / 6).round().astype(np.int64)  # 6 Hz over 3 s
    out = {k: tmp_path / f"{k}.{ext}" for k, ext in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    info = decode_video("clip", small_video, ts, out["frames"], out["audio"], out["meta"],
                        frame_size=224, sample_rate=16000, chunk_frames=5)
    frames = np.load(out["frames"])
    assert frames.shape == (18, 224, 224, 3) and frames.dtype == np.uint8
    # 160x120 letterboxed to 224x168: 28 rows of zero padding above and below
    assert frames[:, :28].max() == 0 and frames[:, -28:].max() == 0
    expected = 10 * ((2 * np.arange(18)) % 24)  # frame i has grey 10 * (i % 24); 12 fps -> 2i
    centre = frames[:, 112, 112, 0].astype(int)
    assert np.abs(centre - expected).max() <= 4, (centre, expected)
    assert info.frame_indices == (2 * np.arange(18)).tolist()
    audio = np.load(out["audio"])
    assert audio.dtype == np.float32 and abs(len(audio) - 48000) < 1600
    spec = np.abs(np.fft.rfft(audio[4000:20000]))
    assert abs(np.argmax(spec) * 16000 / 16000 - 440) < 3  # 1 Hz bins over 16000 samples
    loaded = load_decoded(str(out["meta"]), str(out["frames"]), None)
    assert loaded.timestamps_us.tolist() == ts.tolist()
    assert json.loads(out["meta"].read_text())["fps"] == 12.0
    assert not list(tmp_path.glob(".*tmp*"))
