"""TF Hub extractors: the winner's TRILL-distilled audio and EfficientNet-B0 / ResNet-50 v2 visual
embeddings, plus VGGish and YAMNet (second place's audio), loaded with ``tensorflow_hub.load``.

Handles (``handle:``) are resolved and loaded by :mod:`eevflow.features.hub_handles`: a tfhub.dev
URL loads from ``$TFHUB_CACHE_DIR/<sha1 hex of the URL>/`` when that folder holds the model, else
through its Kaggle Models handle (:mod:`eevflow.features.hub_map`) via ``kagglehub`` (cache first),
else ``hub.load`` downloads it; a Kaggle Models URL or ``kaggle:owner/model/framework/variation/
version`` handle goes through ``kagglehub``; a local SavedModel directory loads as it is. A
malformed handle is a ``ValueError`` when the extractor is built; a load that fails raises
:class:`HubLoadError` naming every handle tried and the folders that would make it work offline.

How each model is called (from the model pages of ``tensorflow/tfhub.dev``,
``assets/docs/...``, and the public code that uses them):

- TRILL-distilled v3: ``module(samples=float32 [batch, samples] or [samples] at 16 kHz,
  sample_rate=16000)`` returns a dict; ``'embedding'`` is ``[time, 2048]`` for a 1-D input (model
  page) and ``[batch, time, 2048]`` for a batch (a ``hub.KerasLayer`` with
  ``output_shape=[None, 2048]``, as the EEV teams ran it). A 1/6 s chunk gives one frame; the
  frames of a longer chunk are averaged. Winner's preprocessing (``window: equal_chunks``, the
  default here): the track zero-padded to a multiple of N (the label rows) and cut into N equal
  chunks, chunk i -> row i; ``window: label_window`` uses the 1/6 s starting at each timestamp.
- VGGish v1: ``model(float32 [samples] at 16 kHz in [-1, 1])`` -> ``[N, 128]``, one row per
  0.96 s frame with no overlap. YAMNet v1: ``model(waveform)`` -> ``(scores [N, 521], embeddings
  [N, 1024], log_mel [M, 64])``, frames of 0.96 s every 0.48 s; the embeddings are output 1.
  Both are run **once on the whole track** (zero-padded to at least 0.975 s and to a whole number
  of hops), and each label row gets the mean of the model frames whose 0.96 s span overlaps the
  row's audio window (the nearest frame when none does). Running them on a 1/6 s window alone
  would need 0.8 s of padding: the embedding would mostly describe silence.
- EfficientNet-B0 feature-vector v1 and ResNet-50 v2 feature-vector v4 (the common image
  feature-vector signature): ``model(images float32 [batch, H, W, 3] RGB in [0, 1])`` ->
  ``[batch, 1280]`` / ``[batch, 2048]``; ``training=False`` is passed when the callable takes it,
  as ``hub.KerasLayer`` does. The decoded frames are already zero-padded to a square and resized
  to ``decode.frame_size`` (224 by default); they are scaled by 1/255 here, ``batch_size`` frames
  at a time from the memmap.
- Inception-ResNet-v2 feature-vector v5 (MGN-MA's frame stream): the same call, ``[batch, 1536]``,
  299 x 299 input by default (model page). Frames whose side differs from ``input_size`` (null:
  the model's, 299 here, 224 for the two above) are resized with ``tf.image.resize(method=
  "bilinear", antialias=True)`` on the [0, 1] floats. Sharing the 224 px decode means a 224 px
  letterboxed frame is scaled up to 299: no detail is added, but the network sees objects at the
  scale it was trained on; decode at ``frame_size: 299`` for a sharper input (it costs every
  visual extractor of that run the larger decode).
"""

from __future__ import annotations

import numpy as np

from eevflow.decoding import Decoded
from eevflow.features import Extractor, configure_tensorflow
from eevflow.features.hub_handles import (  # noqa: F401  (re-exported for callers and tests)
    SAVED_MODEL_FILES,
    HubLoadError,
    KaggleHandle,
    ResolvedHandle,
    _check_dim,
    _fingerprint,
    _takes_training,
    cached_module_dir,
    load_handle,
    resolve_handle,
    select_output,
    tfhub_cache_dir,
)
from eevflow.features.logmel import audio_windows

from eevflow.features.options import TFHubAudioOptions, TFHubImageOptions

SAMPLE_RATE = 16000


class _HubExtractor(Extractor):
    """Shared option handling: ``model`` picks defaults for ``handle``, ``dim``, ``output_key``."""

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        o = self.opts  # null options take the model's value (o.resolved)
        self.model_name, self.spec = o.model, o.spec()
        self.handle = str(o.resolved("handle"))
        self.resolved = resolve_handle(self.handle)  # a malformed handle fails at build time
        self.output_key = o.resolved("output_key")
        self.batch_size = int(o.resolved("batch_size"))
        self._model = None
        self._tf = None

    def model(self):
        if self._model is None:
            self._tf = configure_tensorflow(self.threads, self.device)
            self._model = load_handle(self.handle)
        return self._model


# --------------------------------------------------------------------------- audio

def frame_average(
    frames: np.ndarray, frame_starts: np.ndarray, frame_len: int,
    starts: np.ndarray, ends: np.ndarray,
) -> np.ndarray:
    """Mean of the frames whose span ``[start, start + frame_len)`` overlaps each ``[s, e)``; the
    nearest frame where none does (rows past the last frame)."""
    n_frames = len(frames)
    lo = np.searchsorted(frame_starts + frame_len, starts, side="right")
    hi = np.searchsorted(frame_starts, ends, side="left")
    hi = np.clip(np.maximum(hi, lo + 1), 1, n_frames)
    lo = np.clip(np.minimum(lo, hi - 1), 0, n_frames - 1)
    csum = np.vstack([np.zeros((1, frames.shape[1])), np.cumsum(frames, axis=0, dtype=np.float64)])
    return ((csum[hi] - csum[lo]) / (hi - lo)[:, None]).astype(np.float32)


def pad_for_frames(n_samples: int, window: int, hop: int) -> int:
    """Track length, at least ``n_samples``, holding at least one window and a whole number of
    hops after it (so that the last partial frame is kept, not dropped)."""
    n = max(n_samples, window)
    return window + (-(-(n - window) // hop)) * hop


class TFHubAudioExtractor(_HubExtractor):
    """Backend ``tfhub_audio``: TRILL-distilled (default), VGGish or YAMNet; one row per label."""

    options_class = TFHubAudioOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self.window_mode = self.opts.resolved("window")

    @property
    def version(self) -> str:
        s = self.spec
        how = (
            "per-row chunks, frames averaged"
            if s["call"] == "chunks"
            else f"whole track, {s['frame_s']}s frames every {s['hop_s']}s averaged over each row"
        )
        return (
            f"tfhub_audio-v1 model={self.model_name} handle={self.handle} "
            f"output_key={self.output_key} window={self.window_mode} sr={SAMPLE_RATE} "
            f"call={how}{_fingerprint(self.resolved)}"
        )

    def embed(self, video: Decoded) -> np.ndarray:
        if video.audio is None:
            raise ValueError(f"extractor {self.name!r}: video {video.info.video_id} has no audio")
        sr = int(video.info.sample_rate)
        if sr != SAMPLE_RATE:
            raise ValueError(
                f"extractor {self.name!r}: {self.model_name} needs {SAMPLE_RATE} Hz audio, video "
                f"{video.info.video_id} was decoded at {sr} Hz (decode.audio_sample_rate)"
            )
        audio = np.asarray(video.audio, dtype=np.float32).reshape(-1)
        starts, ends = audio_windows(len(audio), video.timestamps_us, sr, self.window_mode)
        if len(starts) == 0:
            return np.zeros((0, self.dim), np.float32)
        need = int(ends.max())
        if need > len(audio):  # rows past the end of the track hear silence (zero padding)
            audio = np.pad(audio, (0, need - len(audio)))
        if self.spec["call"] == "chunks":
            return self._embed_chunks(audio, starts, ends)
        return self._embed_track(audio, starts, ends)

    def _embed_chunks(self, audio, starts, ends) -> np.ndarray:
        model, tf = self.model(), self._tf
        length = int((ends - starts).max())
        out = np.empty((len(starts), self.dim), np.float32)
        rate = tf.constant(SAMPLE_RATE, tf.int32)
        for lo in range(0, len(starts), self.batch_size):
            batch = np.zeros((min(self.batch_size, len(starts) - lo), length), np.float32)
            for j in range(len(batch)):
                s, e = int(starts[lo + j]), int(ends[lo + j])
                batch[j, : e - s] = audio[s:e]
            res = model(samples=tf.constant(batch), sample_rate=rate)
            emb = np.asarray(select_output(res, self.output_key, self.handle), np.float32)
            if emb.ndim == 3:  # [batch, time, dim]: average the frames of each chunk
                emb = emb.mean(axis=1)
            elif emb.ndim == 2 and emb.shape[0] != len(batch) and len(batch) == 1:
                emb = emb.mean(axis=0, keepdims=True)  # [time, dim] for a single chunk
            if emb.ndim != 2 or emb.shape[0] != len(batch):
                raise ValueError(
                    f"{self.handle}: expected [batch, time, dim] or [batch, dim] for a batch of "
                    f"{len(batch)} chunks, got {emb.shape}"
                )
            out[lo : lo + len(batch)] = _check_dim(emb, self.dim, self.handle)
        return out

    def _embed_track(self, audio, starts, ends) -> np.ndarray:
        model, tf = self.model(), self._tf
        window = round(self.spec["min_s"] * SAMPLE_RATE)
        hop = round(self.spec["hop_s"] * SAMPLE_RATE)
        frame_len = round(self.spec["frame_s"] * SAMPLE_RATE)
        target = pad_for_frames(len(audio), window, hop)
        audio = np.pad(audio, (0, target - len(audio)))
        res = model(tf.constant(audio))
        frames = _check_dim(
            np.asarray(select_output(res, self.output_key, self.handle), np.float32),
            self.dim, self.handle,
        )
        if len(frames) == 0:
            raise ValueError(f"{self.handle}: no frames for a {target}-sample track")
        frame_starts = np.arange(len(frames), dtype=np.int64) * hop
        return frame_average(frames, frame_starts, frame_len, starts, ends)


# --------------------------------------------------------------------------- images

class TFHubImageExtractor(_HubExtractor):
    """Backend ``tfhub_image``: an image feature-vector model on each row's frame, RGB in [0, 1]."""

    options_class = TFHubImageOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self.input_size = int(self.opts.resolved("input_size"))

    @property
    def version(self) -> str:
        return (
            f"tfhub_image-v1 model={self.model_name} handle={self.handle} "
            f"output_key={self.output_key} input=rgb/255 letterboxed-square "
            f"size={self.input_size} (bilinear resize of other sizes)"
            f"{_fingerprint(self.resolved)}"
        )

    def embed(self, video: Decoded) -> np.ndarray:
        frames = video.frames
        if frames is None:
            raise ValueError(f"extractor {self.name!r}: video {video.info.video_id} has no frames")
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(
                f"extractor {self.name!r}: frames must be (N, H, W, 3), got {frames.shape}"
            )
        model, tf = self.model(), self._tf
        training = _takes_training(model)
        out = np.empty((len(frames), self.dim), np.float32)
        size = self.input_size
        resize = frames.shape[1:3] != (size, size)
        for lo in range(0, len(frames), self.batch_size):
            x = tf.constant(np.asarray(frames[lo : lo + self.batch_size], np.float32) / 255.0)
            if resize:
                x = tf.image.resize(x, (size, size), method="bilinear", antialias=True)
            res = model(x, training=False) if training else model(x)
            emb = np.asarray(select_output(res, self.output_key, self.handle), np.float32)
            out[lo : lo + len(x)] = _check_dim(emb.reshape(len(x), -1), self.dim, self.handle)
        return out
