"""Alignment: one embedding per label row, for both modalities, through the real path (PyAV-written
H.264 + AAC file -> decode -> extractor -> Parquet shard -> the trainer's join with the labels).

The generated video's frame i shows i as a 9-bit code of black and white stripes, and its audio
plays, during label row k's 1/6 s window, a tone whose frequency encodes k. A shift of one frame
(visual) or one row (audio) anywhere breaks these tests; each test also checks that the one-row
shifted embeddings would fail, so the checks have teeth.
"""

from __future__ import annotations

import fractions

import numpy as np
import pandas as pd
import pytest

import badmedia
from conftest import write_video
from eevflow.features import build_extractor
from eevflow.decoding import decode_video, load_decoded
from eevflow.shards import write_shard
from eevflow.sequences import load_split

BITS = 9
W, H = 288, 144  # 32-pixel stripes; letterboxed into 224 x 112 with 56 rows of padding
ROW_HZ = 6
TONES = 500.0 + 250.0 * np.arange(12)  # row k plays TONES[k % 12]


def code_frame(i: int) -> np.ndarray:
    return badmedia.code_frame(i, (W, H), BITS)


def read_code(frame: np.ndarray) -> int:
    """The index shown by a decoded, letterboxed 224 x 224 frame (padded above and below)."""
    return badmedia.read_code(frame, BITS)


def row_tone(t: np.ndarray) -> np.ndarray:
    k = np.floor(t * ROW_HZ + 1e-9).astype(np.int64)
    return 0.4 * np.sin(2 * np.pi * TONES[k % len(TONES)] * t)


def timestamps(seconds: float) -> np.ndarray:
    n = int(seconds * ROW_HZ)
    return (np.arange(n) * 1e6 / ROW_HZ).round().astype(np.int64)


def expected_frames(ts_us: np.ndarray, fps: fractions.Fraction) -> np.ndarray:
    """The frame on screen at each timestamp, in exact arithmetic: the last frame that starts less
    than 0.5 ms after it (containers that round times to milliseconds are off by up to 0.5 ms)."""
    import math

    late = fractions.Fraction(1, 2000)
    return np.array([math.ceil((fractions.Fraction(int(t), 10**6) + late) * fps) - 1 for t in ts_us])


@pytest.fixture(scope="module", params=[fractions.Fraction(25), fractions.Fraction(30000, 1001)],
                ids=["25fps", "29.97fps"])
def coded(request, tmp_path_factory):
    fps = request.param
    d = tmp_path_factory.mktemp("coded")
    seconds = 9.0
    path = write_video(d / "coded.mp4", seconds=seconds, fps=fps, size=(W, H), sample_rate=22050,
                       frame_fn=code_frame, audio_fn=row_tone)
    ts = timestamps(seconds - 0.5)
    f = {k: d / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("coded", path, ts, f["frames"], f["audio"], f["meta"])
    labels = pd.DataFrame({"video_id": "coded", "timestamp_us": ts})
    return fps, d, f, ts, labels


def _through_shard(d, name, ext, video, labels):
    """Embed, write the Parquet shard, and join it with the labels as the trainer does."""
    emb = ext.embed(video)
    shard = d / f"{name}.parquet"
    write_shard(shard, iter([("coded", video.timestamps_us, emb)]), ext.dim, ext.metadata())
    split = load_split(labels, {name: [str(shard)]}, None)
    assert not split.skipped and len(split.videos) == 1
    seq = split.videos[0]
    np.testing.assert_array_equal(seq.timestamps_us, labels["timestamp_us"].to_numpy())
    return seq.features


def test_decoded_frame_of_each_row_is_the_frame_on_screen(coded):
    fps, _, f, ts, _ = coded
    frames = np.load(f["frames"])
    assert len(frames) == len(ts)
    shown = np.array([read_code(fr) for fr in frames])
    want = expected_frames(ts, fps)
    np.testing.assert_array_equal(shown, want)
    assert not np.array_equal(shown[1:], want[:-1])  # one row late would be caught


def test_visual_embeddings_follow_the_rows(coded):
    _, d, f, ts, labels = coded
    video = load_decoded(str(f["meta"]), str(f["frames"]), None)
    ext = build_extractor("effnet", {"backend": "efficientnet_lite0", "modality": "visual",
                                     "batch_size": 8})
    feats = _through_shard(d, "effnet", ext, video, labels)
    assert feats.shape == (len(ts), 1280)
    # each row's embedding is the model's view of that row's frame, and of no other row's
    from eevflow.features.efficientnet_lite import embed_frames

    own = embed_frames(ext.model(), np.asarray(video.frames), batch_size=8)
    dist = ((feats[:, None, :] - own[None, :, :]) ** 2).sum(-1)
    np.testing.assert_array_equal(dist.argmin(axis=1), np.arange(len(ts)))
    np.testing.assert_allclose(feats, own, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(np.roll(dist, 1, axis=0).argmin(axis=1), np.arange(len(ts)))


def test_audio_embeddings_follow_the_rows(coded):
    _, d, f, ts, labels = coded
    video = load_decoded(str(f["meta"]), None, str(f["audio"]))
    ext = build_extractor("logmel", {"backend": "logmel", "modality": "audio", "n_mels": 64})
    feats = _through_shard(d, "logmel", ext, video, labels)
    assert feats.shape == (len(ts), 64)
    # the mel band where each tone peaks, from the extractor's own spectrogram of a pure tone
    sr = video.info.sample_rate
    t = np.arange(sr) / sr
    peak_of_tone = [
        int(ext.spectrogram(0.4 * np.sin(2 * np.pi * hz * t), sr)[0].mean(0).argmax())
        for hz in TONES
    ]
    assert len(set(peak_of_tone)) == len(TONES)
    heard = np.array([peak_of_tone.index(b) if b in peak_of_tone else -1
                      for b in feats.argmax(axis=1)])
    want = np.arange(len(ts)) % len(TONES)
    np.testing.assert_array_equal(heard, want)
    assert not np.array_equal(np.roll(heard, 1), want)  # one row off would be caught
