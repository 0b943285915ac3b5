"""musicnn's shipped checkpoints as the offline pretrained audio extractor: the weights really load
(the tagger names synthetic piano and drums), a damaged or missing checkpoint is an error, and the
extractor gives one embedding per label row of a real decoded clip."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pytest

pytest.importorskip("musicnn")
tf = pytest.importorskip("tensorflow")

from conftest import write_video  # noqa: E402

from eevflow.features import build_extractor  # noqa: E402
from eevflow.features.efficientnet_lite import WeightLoadError  # noqa: E402
from eevflow.features.musicnn_tagger import (  # noqa: E402
    LAYERS,
    MusicnnModel,
    checkpoint_dir,
    context_frames,
    log_mel,
    row_patches,
)
from eevflow.decoding import decode_video, load_decoded  # noqa: E402

SR = 16000


def _piano(t):
    y = np.zeros_like(t)
    notes = [261.6, 329.6, 392.0, 523.3, 440.0, 349.2]
    for k in range(int(t[-1] / 0.5) + 1):
        on = t >= k * 0.5
        dt = t[on] - k * 0.5
        for h in range(1, 6):
            y[on] += (0.5 / h) * np.sin(2 * np.pi * notes[k % 6] * h * dt) * np.exp(-3 * dt)
    return 0.3 * y


def _drums(t, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros_like(t)
    n = int(0.08 * SR)
    for k in range(int(t[-1] / 0.25)):
        s = int(k * 0.25 * SR)
        hit = rng.standard_normal(n) * np.exp(-np.arange(n) / 400) * (1.0 if k % 2 == 0 else 0.5)
        y[s : s + n] += hit[: len(y[s : s + n])]
        if k % 4 == 0:
            kick = np.sin(2 * np.pi * 60 * np.arange(2 * n) / SR) * np.exp(-np.arange(2 * n) / 1500)
            y[s : s + 2 * n] += kick[: len(y[s : s + 2 * n])]
    return 0.5 * y


@pytest.fixture(scope="module")
def tagger():
    return MusicnnModel("MTT_musicnn", context_frames(3.0), threads=1)


def _tags(model, wave):
    patch = row_patches(log_mel(wave, SR), np.array([len(wave) / SR / 2]), model.n_frames)
    probs = model.run(patch, "taggram")[0]
    return [model.tags[i] for i in np.argsort(-probs)]


def test_context_frames_match_musicnn():
    assert context_frames(3.0) == 187  # librosa.time_to_frames(3, 16000, 256, 512) + 1


def test_pretrained_tagger_hears_piano_and_drums(tagger):
    t = np.arange(6 * SR) / SR
    assert _tags(tagger, _piano(t))[0] == "piano"
    assert {"beat", "drums", "techno"} & set(_tags(tagger, _drums(t))[:3])


def test_restored_weights_are_the_checkpoint(tagger):
    reader = tf.compat.v1.train.NewCheckpointReader(checkpoint_dir("MTT_musicnn") + "/")
    names = [n for n, shape in reader.get_variable_to_shape_map().items() if len(shape) == 4]
    assert names
    name = sorted(names)[0]
    np.testing.assert_array_equal(tagger.variable(name), reader.get_tensor(name))


def test_missing_checkpoint_is_an_error(tmp_path):
    with pytest.raises(WeightLoadError, match="not found"):
        MusicnnModel("MTT_musicnn", 187, checkpoint=str(tmp_path / "nowhere"))


def test_truncated_checkpoint_is_an_error(tmp_path):
    bad = tmp_path / "MTT_musicnn"
    shutil.copytree(checkpoint_dir("MTT_musicnn"), bad)
    data = bad / ".data-00000-of-00001"
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 3])
    with pytest.raises(WeightLoadError, match="cannot restore musicnn checkpoint"):
        MusicnnModel("MTT_musicnn", 187, checkpoint=str(bad))


def test_checkpoint_of_another_architecture_is_an_error(tmp_path):
    with pytest.raises(WeightLoadError, match="cannot restore"):
        MusicnnModel("MTT_musicnn", 187, checkpoint=checkpoint_dir("MTT_vgg"))


def test_row_patches_centre_each_row_and_pad_with_silence():
    spec = np.arange(100, dtype=np.float32)[:, None] + np.zeros((1, 96), np.float32)
    centres_s = np.array([0.0, 50 * 256 / SR, 99 * 256 / SR])
    p = row_patches(spec + 1, centres_s, 11)
    assert p.shape == (3, 11, 96)
    assert p[1, 5, 0] == 51  # the centre frame sits in the middle of the patch
    np.testing.assert_array_equal(p[0, :5, 0], 0)  # before the track: silence
    np.testing.assert_array_equal(p[2, 6:, 0], 0)  # after it: silence


def test_log_mel_is_float32_and_finite_on_loud_audio():
    loud = np.random.default_rng(0).uniform(-1, 1, SR * 2).astype(np.float32) * 40
    spec = log_mel(loud, SR)
    assert spec.dtype == np.float32 and np.isfinite(spec).all()
    assert spec.shape == (2 * SR // 256 + 1, 96)


def test_extractor_gives_one_row_per_label_on_a_real_clip(tmp_path):
    path = write_video(tmp_path / "clip.mp4", seconds=4.0, fps=12, sample_rate=22050)
    ts = (np.arange(24) * 1e6 / 6).round().astype(np.int64)
    f = {k: tmp_path / f"{k}.{e}" for k, e in (("frames", "npy"), ("audio", "npy"), ("meta", "json"))}
    decode_video("clip", path, ts, f["frames"], f["audio"], f["meta"])
    video = load_decoded(str(f["meta"]), None, str(f["audio"]))
    ext = build_extractor("mus", {"backend": "musicnn", "modality": "audio"})
    emb = ext.embed(video)
    assert emb.shape == (24, LAYERS["penultimate"]) and emb.dtype == np.float32
    assert np.isfinite(emb).all()
    np.testing.assert_array_equal(emb, ext.embed(video))  # deterministic
    # a different sound gives different embeddings
    t = np.arange(len(video.audio)) / SR
    other = ext.embed(replace(video, audio=_drums(t).astype(np.float32)))
    assert np.abs(other - emb).mean() > 1e-3
    taggram = build_extractor("tags", {"backend": "musicnn", "modality": "audio", "layer": "taggram"})
    assert taggram.embed(video).shape == (24, 50) and taggram.dim == 50


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="layer"):
        build_extractor("m", {"backend": "musicnn", "modality": "audio", "layer": "nope"})
    with pytest.raises(ValueError, match="dim"):
        build_extractor("m", {"backend": "musicnn", "modality": "audio", "dim": 2048})
