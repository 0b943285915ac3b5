"""A deterministic synthetic EEV-style dataset with a planted, learnable signal.

The demo stands in for the real EEV videos and CSVs (which are not available on these machines) so
the whole workflow can run end to end, and so that a temporal model over per-frame visual embeddings
and per-label-time audio embeddings can be *seen* to learn something that a control trained on
time-shuffled labels cannot.

What is generated
-----------------
For every video (``n_train`` / ``n_val`` / ``n_test`` of them, 11-character YouTube-like IDs):

* a real H.264 (libx264, yuv420p) + AAC ``.mp4``; duration uniform in ``[min_seconds,
  max_seconds]`` rounded to a whole number of frames, fps from (12, 15, 24, 25), frame size from
  (320x240, 320x180, 240x240, 256x144), audio sample rate from (44100, 48000, 22050), mono or
  stereo -- so that downstream code assumes nothing about the input;
* label rows at 6 Hz, timestamps ``round(i * 1e6 / 6)`` microseconds for ``i = 0 .. N-1`` with
  ``N = floor(duration * 6)``, so every label time lies inside the video.

The planted signal
------------------
Each modality has its own schedule of *events* covering the video: a lead-in gap uniform in
0-1 s, then events lasting uniform 0.8-1.6 s separated by gaps uniform 1.0-2.5 s. The kind of each
event (K = 6 kinds) comes from concatenated random permutations of the 6 kinds, so every kind occurs
in every video of about 20 s or more. The visual and audio schedules are drawn from independent
random streams.

* Visual kinds: during an event the frame shows one of 6 photos bundled with scikit-image
  (``VISUAL_KINDS``), scaled to cover the frame, with a slow sub-frame pan (jitter) and a per-event
  brightness gain. Between events the frame shows a neutral background: a low-contrast colour
  gradient that slowly rotates and drifts, plus a faint scrolling smooth texture.
* Audio kinds: during an event the audio carries one of 6 sounds (``AUDIO_KINDS``): pure tones at
  250, 500, 1000, 2000 and 4000 Hz and a band of noise (5-7 kHz), at about -13 dBFS RMS, over a
  background noise floor at about -48 dBFS RMS. All are well separated in a 64-band log-mel of
  16 kHz audio.

Expression ``e`` (index 0..14 in ``EXPRESSIONS``) responds to modality ``visual`` if ``e`` is even
else ``audio``, to event kind ``(e // 2) % 6``, with a lag of ``L_e = 3 + e % 4`` label steps (the
expression responds L steps after its cause) and Gaussian smoothing
``sigma_e = 1.0 + 0.5 * (e % 3)`` steps: with ``x`` the 0/1 indicator of that kind at each label
time::

    score = clip(0.08 + 0.7 * gaussian_filter1d(shift(x, L_e), sigma_e) + N(0, noise_std), 1e-3, 1)

==  ==============  ========  ====================  ===  =====
e   expression      modality  kind                  lag  sigma
==  ==============  ========  ====================  ===  =====
0   amusement       visual    0 chelsea (cat)       3    1.0
1   anger           audio     0 tone 250 Hz         4    1.5
2   awe             visual    1 astronaut           5    2.0
3   concentration   audio     1 tone 500 Hz         6    1.0
4   confusion       visual    2 coffee              3    1.5
5   contempt        audio     2 tone 1000 Hz        4    2.0
6   contentment     visual    3 rocket              5    1.0
7   disappointment  audio     3 tone 2000 Hz        6    1.5
8   doubt           visual    4 coins               3    2.0
9   elation         audio     4 tone 4000 Hz        4    1.0
10  interest        visual    5 camera (cameraman)  5    1.5
11  pain            audio     5 noise 5-7 kHz       6    2.0
12  sadness         visual    0 chelsea (cat)       3    1.0
13  surprise        audio     0 tone 250 Hz         4    1.5
14  triumph         visual    1 astronaut           5    2.0
==  ==============  ========  ====================  ===  =====

(``signal_table()`` returns the same table as data.) The visual indicator at label time ``t`` is
taken from the frame shown at ``t`` (frame ``floor(t * fps)``), the audio indicator from whether
``t`` lies inside an audio event. Finally a few contiguous runs of rows (about
``no_detection_fraction`` of each video's rows, at least one row) are set to all 0.0 -- EEV's
"no face detected" -- and no other row is all zero (scores are clipped at 1e-3 from below).

Everything is seeded from ``spec.seed``, the split and the video (whose ID is a function of the
split and its index) through ``numpy.random.SeedSequence``; no global random state is used. The
encoders run single-threaded, which makes the ``.mp4`` files byte-identical from run to run on a
given machine and software stack (another CPU's float32 ``sin`` may move a background pixel by one
grey level; labels never depend on rendering).

Usage::

    python -m eevflow.demo --videos-dir demo/videos --train demo/train.csv --val demo/val.csv \
        --test demo/test.csv --test-ground-truth demo/test_gt.csv [--jobs 2]
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import hashlib
import math
import os
import sys
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np

from eevflow.io import atomic_path

EXPRESSIONS: tuple[str, ...] = (
    "amusement",
    "anger",
    "awe",
    "concentration",
    "confusion",
    "contempt",
    "contentment",
    "disappointment",
    "doubt",
    "elation",
    "interest",
    "pain",
    "sadness",
    "surprise",
    "triumph",
)

ID_HEADER_TRAIN = "YouTube ID"
ID_HEADER_TEST = "Video ID"
TIMESTAMP_HEADER = "Timestamp (milliseconds)"  # as in the released files; the values are in µs

N_KINDS = 6
#: scikit-image bundled photos shown during visual events, by kind
VISUAL_KINDS: tuple[str, ...] = ("chelsea", "astronaut", "coffee", "rocket", "coins", "camera")
#: sounds played during audio events, by kind: ("tone", Hz) or ("noise", (low Hz, high Hz))
AUDIO_KINDS: tuple[tuple, ...] = (
    ("tone", 250.0),
    ("tone", 500.0),
    ("tone", 1000.0),
    ("tone", 2000.0),
    ("tone", 4000.0),
    ("noise", (5000.0, 7000.0)),
)
SPLITS = ("train", "val", "test")

_FPS_CHOICES = (12, 15, 24, 25)
_SIZE_CHOICES = ((320, 240), (320, 180), (240, 240), (256, 144))  # (width, height)
_RATE_CHOICES = (44100, 48000, 22050)

# random streams (the last word of each SeedSequence entropy)
_S_PARAMS, _S_VISUAL, _S_AUDIO, _S_RENDER, _S_SOUND, _S_NOISE, _S_NODET = range(7)


@dataclass(frozen=True)
class DemoSpec:
    """Size and randomness of the demo dataset (defaults: the workflow's demo)."""

    n_train: int = 24
    n_val: int = 8
    n_test: int = 8
    min_seconds: float = 20.0
    max_seconds: float = 60.0
    seed: int = 0
    label_rate_hz: float = 6.0
    noise_std: float = 0.04
    no_detection_fraction: float = 0.05
    # event schedule (seconds)
    event_min_s: float = 0.8
    event_max_s: float = 1.6
    gap_min_s: float = 1.0
    gap_max_s: float = 2.5
    lead_max_s: float = 1.0
    # label model
    base_score: float = 0.08
    gain: float = 0.7
    min_score: float = 1e-3
    # encoding
    x264_preset: str = "veryfast"
    x264_crf: int = 23
    keyframe_seconds: float = 4.0
    aac_coder: str = "fast"

    def __post_init__(self):
        if min(self.n_train, self.n_val, self.n_test) < 0:
            raise ValueError("video counts must be >= 0")
        if not 0 < self.min_seconds <= self.max_seconds:
            raise ValueError("need 0 < min_seconds <= max_seconds")
        if self.label_rate_hz != 6.0:
            raise ValueError("EEV labels are at 6 Hz; label_rate_hz must be 6.0")
        if not 0 <= self.no_detection_fraction < 1:
            raise ValueError("no_detection_fraction must be in [0, 1)")
        if self.noise_std < 0:
            raise ValueError("noise_std must be >= 0")

    def count(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


# --------------------------------------------------------------------------------------------------
# signal definition


def expression_signal(e: int) -> dict:
    """The planted cause of expression ``e``: modality, kind, lag (label steps), sigma (steps)."""
    modality = "visual" if e % 2 == 0 else "audio"
    kind = (e // 2) % N_KINDS
    return {
        "index": e,
        "expression": EXPRESSIONS[e],
        "modality": modality,
        "kind": kind,
        "kind_name": kind_name(modality, kind),
        "lag": 3 + e % 4,
        "sigma": 1.0 + 0.5 * (e % 3),
    }


def signal_table() -> list[dict]:
    """The planted signal, one dict per expression in ``EXPRESSIONS`` order.

    Keys: index, expression, modality ("visual" / "audio"), kind (0..5), kind_name, lag (label
    steps), sigma (label steps).
    """
    return [expression_signal(e) for e in range(len(EXPRESSIONS))]


def kind_name(modality: str, kind: int) -> str:
    if modality == "visual":
        return f"photo:{VISUAL_KINDS[kind]}"
    what, arg = AUDIO_KINDS[kind]
    if what == "tone":
        return f"tone:{arg:g}Hz"
    return f"noise:{arg[0]:g}-{arg[1]:g}Hz"


# --------------------------------------------------------------------------------------------------
# IDs and seeding


def demo_video_ids(split: str, n: int) -> list[str]:
    """``n`` deterministic 11-character YouTube-like IDs for ``split`` (distinct across splits)."""
    ids = []
    for i in range(n):
        digest = hashlib.sha256(f"eevflow-demo-{split}-{i}".encode()).digest()
        ids.append(base64.urlsafe_b64encode(digest).decode("ascii")[:11])
    return ids


def _rng(spec: DemoSpec, split: str, video_id: str, stream: int) -> np.random.Generator:
    key = hashlib.sha256(f"{split}/{video_id}".encode()).digest()
    words = [int.from_bytes(key[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(spec.seed), *words, stream]))


# --------------------------------------------------------------------------------------------------
# plan: every random choice of one video, as JSON-able metadata


def _schedule(
    rng: np.random.Generator, duration: float, spec: DemoSpec
) -> list[tuple[int, float, float]]:
    events = []
    t = float(rng.uniform(0.0, spec.lead_max_s))
    kinds: list[int] = []
    while t < duration:
        if not kinds:
            kinds = [int(k) for k in rng.permutation(N_KINDS)]
        length = float(rng.uniform(spec.event_min_s, spec.event_max_s))
        events.append((kinds.pop(0), t, min(t + length, duration)))
        t += length + float(rng.uniform(spec.gap_min_s, spec.gap_max_s))
    return events


def plan_video(video_id: str, spec: DemoSpec, split: str) -> dict:
    """All of one video's parameters and event schedules (no files written)."""
    rng = _rng(spec, split, video_id, _S_PARAMS)
    fps = int(rng.choice(_FPS_CHOICES))
    width, height = _SIZE_CHOICES[int(rng.integers(len(_SIZE_CHOICES)))]
    sample_rate = int(rng.choice(_RATE_CHOICES))
    channels = int(rng.integers(1, 3))
    seconds = float(rng.uniform(spec.min_seconds, spec.max_seconds))
    n_frames = max(1, round(seconds * fps))
    duration = n_frames / fps
    n_samples = round(n_frames * sample_rate / fps)
    n_labels = (n_frames * 6) // fps  # floor(duration * 6), exactly

    visual = []
    for kind, start, end in _schedule(_rng(spec, split, video_id, _S_VISUAL), duration, spec):
        f0 = min(n_frames, math.ceil(start * fps - 1e-9))
        f1 = min(n_frames, math.ceil(end * fps - 1e-9))
        if f1 > f0:
            visual.append(
                {
                    "kind": kind,
                    "name": kind_name("visual", kind),
                    "start_s": start,
                    "end_s": end,
                    "start_frame": f0,
                    "end_frame": f1,
                }
            )
    audio = []
    for kind, start, end in _schedule(_rng(spec, split, video_id, _S_AUDIO), duration, spec):
        s0 = min(n_samples, round(start * sample_rate))
        s1 = min(n_samples, round(end * sample_rate))
        if s1 > s0:
            audio.append(
                {
                    "kind": kind,
                    "name": kind_name("audio", kind),
                    "start_s": start,
                    "end_s": end,
                    "start_sample": s0,
                    "end_sample": s1,
                }
            )
    return {
        "video_id": video_id,
        "split": split,
        "fps": fps,
        "width": width,
        "height": height,
        "n_frames": n_frames,
        "duration_s": duration,
        "sample_rate": sample_rate,
        "channels": channels,
        "n_samples": n_samples,
        "n_labels": n_labels,
        "visual_events": visual,
        "audio_events": audio,
    }


# --------------------------------------------------------------------------------------------------
# labels


def label_timestamps_us(n_labels: int) -> np.ndarray:
    """EEV label times at 6 Hz, in integer microseconds."""
    return np.rint(np.arange(n_labels) * (1e6 / 6.0)).astype(np.int64)


def event_indicators(meta: dict) -> dict[str, np.ndarray]:
    """0/1 indicator of each kind at each label time: {"visual": (6, N), "audio": (6, N)}."""
    n, fps = meta["n_labels"], meta["fps"]
    steps = np.arange(n)
    frame_at = (steps * fps) // 6  # frame shown at label time i/6
    vis = np.zeros((N_KINDS, n), np.float64)
    for ev in meta["visual_events"]:
        vis[ev["kind"], (frame_at >= ev["start_frame"]) & (frame_at < ev["end_frame"])] = 1.0
    t = steps / 6.0
    aud = np.zeros((N_KINDS, n), np.float64)
    for ev in meta["audio_events"]:
        aud[ev["kind"], (t >= ev["start_s"]) & (t < ev["end_s"])] = 1.0
    return {"visual": vis, "audio": aud}


def _no_detection_mask(rng: np.random.Generator, n: int, fraction: float) -> np.ndarray:
    mask = np.zeros(n, bool)
    if fraction <= 0 or n < 2:
        return mask
    n_zero = min(n - 1, max(1, round(fraction * n)))
    n_runs = int(min(n_zero, rng.integers(1, 4)))
    # run lengths: a random composition of n_zero into n_runs positive parts
    cuts = (
        np.sort(rng.choice(np.arange(1, n_zero), n_runs - 1, replace=False)) if n_runs > 1 else []
    )
    lengths = np.diff(np.r_[0, cuts, n_zero]).astype(int)
    # positions: runs placed among the n - n_zero detected rows
    free = n - n_zero
    slots = np.sort(rng.choice(free + 1, n_runs, replace=False))
    pos = 0
    for slot, length in zip(slots, lengths):
        start = int(slot) + pos
        mask[start : start + length] = True
        pos += int(length)
    return mask


def generate_labels(meta: dict, spec: DemoSpec) -> tuple[np.ndarray, np.ndarray]:
    """The label rows of one planned video (see ``plan_video``).

    Returns ``(timestamps_us int64 (N,), scores float64 (N, 15))``; scores are rounded to 6 decimals
    (as written), in [0, 1], with a few all-zero "no face detected" runs.
    """
    from scipy.ndimage import gaussian_filter1d

    n = meta["n_labels"]
    ind = event_indicators(meta)
    noise = _rng(spec, meta["split"], meta["video_id"], _S_NOISE).normal(
        0.0, spec.noise_std, (n, len(EXPRESSIONS))
    )
    scores = np.empty((n, len(EXPRESSIONS)), np.float64)
    for sig in signal_table():
        e, lag = sig["index"], sig["lag"]
        x = ind[sig["modality"]][sig["kind"]]
        shifted = np.zeros(n)
        if n > lag:
            shifted[lag:] = x[: n - lag]
        smooth = gaussian_filter1d(shifted, sig["sigma"], mode="nearest") if n else shifted
        scores[:, e] = spec.base_score + spec.gain * smooth + noise[:, e]
    scores = np.round(np.clip(scores, spec.min_score, 1.0), 6)
    mask = _no_detection_mask(
        _rng(spec, meta["split"], meta["video_id"], _S_NODET), n, spec.no_detection_fraction
    )
    scores[mask] = 0.0
    return label_timestamps_us(n), scores


# --------------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=None)
def _photo(name: str) -> np.ndarray:
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3].astype(np.uint8))


def _cover(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``img`` to cover ``width`` x ``height`` and centre-crop to exactly that size."""
    from PIL import Image

    h, w = img.shape[:2]
    scale = max(width / w, height / h)
    nw, nh = max(width, math.ceil(w * scale)), max(height, math.ceil(h * scale))
    out = np.asarray(Image.fromarray(img).resize((nw, nh), Image.Resampling.BILINEAR))
    y0, x0 = (nh - height) // 2, (nw - width) // 2
    return np.ascontiguousarray(out[y0 : y0 + height, x0 : x0 + width])


_GRAD_LEVELS, _TEX_LEVELS = 128, 32


def _gain_lut(gain: float) -> np.ndarray:
    return np.clip(np.rint(np.arange(256) * gain), 0, 255).astype(np.uint8)


class FrameRenderer:
    """Renders frame ``j`` of a planned video as an RGB uint8 (height, width, 3) array."""

    def __init__(self, meta: dict, spec: DemoSpec):
        from PIL import Image

        self.meta = meta
        w, h, self.fps = meta["width"], meta["height"], meta["fps"]
        rng = _rng(spec, meta["split"], meta["video_id"], _S_RENDER)
        self.jitter = max(2, w // 40)
        j = self.jitter
        self.photos = [_cover(_photo(name), w + 2 * j, h + 2 * j) for name in VISUAL_KINDS]
        # neutral background: low-contrast muted gradient + faint smooth texture
        self.c1 = rng.uniform(70, 180, 3).astype(np.float32)
        self.c2 = np.clip(self.c1 + rng.uniform(-45, 45, 3), 40, 215).astype(np.float32)
        self.theta0 = float(rng.uniform(0, 2 * np.pi))
        self.rot_speed = float(rng.choice([-1, 1]) * rng.uniform(0.05, 0.15))  # rad/s
        self.drift = float(rng.uniform(0.05, 0.15))  # gradient periods/s
        self.freq = float(rng.uniform(0.5, 1.0))  # gradient periods per frame width
        self.xs = (np.arange(w) / w).astype(np.float32)
        self.ys = (np.arange(h) / w).astype(np.float32)
        small = rng.normal(0, 1, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
        tex = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC))
        tex = tex / max(1e-6, float(np.abs(tex).max()))  # in [-1, 1]
        # colours come from a table indexed by (gradient level, texture level): fast, and the
        # texture (+-10 grey levels) dithers the gradient's quantisation
        self._tex_idx = np.rint((tex + 1) / 2 * (_TEX_LEVELS - 1)).astype(np.int32)
        gv = np.linspace(0, 1, _GRAD_LEVELS, dtype=np.float32)[:, None, None]
        tv = np.linspace(-10, 10, _TEX_LEVELS, dtype=np.float32)[None, :, None]
        table = self.c1 + gv * (self.c2 - self.c1) + tv
        self._table = np.clip(np.rint(table), 0, 255).astype(np.uint8).reshape(-1, 3)
        self.scroll = float(rng.uniform(4, 12))  # px/s
        # per-event pan phase and brightness
        self.events = []
        for ev in meta["visual_events"]:
            self.events.append(
                (
                    ev["start_frame"],
                    ev["end_frame"],
                    ev["kind"],
                    float(rng.uniform(0, 2 * np.pi)),
                    float(rng.uniform(0, 2 * np.pi)),
                    _gain_lut(float(rng.uniform(0.92, 1.08))),
                )
            )

    def event_at(self, frame: int):
        for ev in self.events:
            if ev[0] <= frame < ev[1]:
                return ev
        return None

    def background(self, t: float) -> np.ndarray:
        th = self.theta0 + self.rot_speed * t
        c, sn = np.float32(np.cos(th)), np.float32(np.sin(th))
        # g = 0.5 + 0.5 sin(a(x) + b(y)), computed separably: sin(a + b) = sin a cos b + cos a sin b
        a = np.float32(2 * np.pi * self.freq) * c * self.xs + np.float32(2 * np.pi * self.drift * t)
        b = np.float32(2 * np.pi * self.freq) * sn * self.ys
        g = np.cos(b)[:, None] * np.sin(a)[None, :]
        g += np.sin(b)[:, None] * np.cos(a)[None, :]
        g *= 0.5
        g += 0.5
        idx = (g * (_GRAD_LEVELS - 1) + 0.5).astype(np.int32)
        idx *= _TEX_LEVELS
        idx += np.roll(self._tex_idx, int(self.scroll * t), axis=1)
        return np.take(self._table, idx, axis=0)

    def photo(self, ev, t: float) -> np.ndarray:
        _, _, kind, px, py, gain = ev
        j = self.jitter
        dx = j + int(round(j * np.sin(2 * np.pi * 0.4 * t + px)))
        dy = j + int(round(j * np.sin(2 * np.pi * 0.3 * t + py)))
        h, w = self.meta["height"], self.meta["width"]
        return np.take(gain, self.photos[kind][dy : dy + h, dx : dx + w])

    def frame(self, j: int) -> np.ndarray:
        t = j / self.fps
        ev = self.event_at(j)
        return self.background(t) if ev is None else self.photo(ev, t)


def render_audio(meta: dict, spec: DemoSpec) -> np.ndarray:
    """The whole soundtrack of a planned video: float32 (channels, n_samples) in [-1, 1]."""
    from scipy.signal import butter, sosfilt

    sr, n, ch = meta["sample_rate"], meta["n_samples"], meta["channels"]
    rng = _rng(spec, meta["split"], meta["video_id"], _S_SOUND)
    floor = rng.normal(0.0, 0.004, (ch, n))  # about -48 dBFS RMS
    sig = np.zeros(n)
    amp = 0.3  # peak of a tone, about -13 dBFS RMS
    ramp = max(1, int(0.01 * sr))
    for ev in meta["audio_events"]:
        s0, s1 = ev["start_sample"], ev["end_sample"]
        length = s1 - s0
        what, arg = AUDIO_KINDS[ev["kind"]]
        if what == "tone":
            t = np.arange(length) / sr
            x = amp * np.sin(2 * np.pi * arg * t + rng.uniform(0, 2 * np.pi))
        else:
            sos = butter(6, arg, btype="bandpass", fs=sr, output="sos")
            x = sosfilt(sos, rng.normal(0, 1, length + 2 * ramp))[2 * ramp :]
            x *= (amp / np.sqrt(2)) / max(1e-9, float(np.sqrt(np.mean(x**2))))
        r = min(ramp, length // 2)
        if r > 0:
            env = 0.5 - 0.5 * np.cos(np.pi * np.arange(r) / r)
            x[:r] *= env
            x[length - r :] *= env[::-1]
        sig[s0:s1] += x
    out = floor + sig[None, :]
    if ch == 2:
        out[1] -= 0.15 * sig  # a slight pan
    return np.clip(out, -1, 1).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# encoding


def generate_video(path, video_id: str, spec: DemoSpec, split: str) -> dict:
    """Write one demo video (H.264 + AAC in .mp4, atomically); return its plan (``plan_video``)."""
    import av

    meta = plan_video(video_id, spec, split)
    fps, sr, ch = meta["fps"], meta["sample_rate"], meta["channels"]
    layout = "mono" if ch == 1 else "stereo"
    renderer = FrameRenderer(meta, spec)
    audio = render_audio(meta, spec)
    keyint = max(1, round(spec.keyframe_seconds * fps))
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            vs = container.add_stream(
                "libx264",
                rate=fps,
                options={
                    "preset": spec.x264_preset,
                    "crf": str(spec.x264_crf),
                    # single-threaded (frame and lookahead) x264 is deterministic
                    "x264-params": f"threads=1:lookahead-threads=1:keyint={keyint}",
                },
            )
            vs.width, vs.height, vs.pix_fmt = meta["width"], meta["height"], "yuv420p"
            vs.codec_context.thread_count = 1
            aus = container.add_stream(
                "aac", rate=sr, layout=layout, options={"aac_coder": spec.aac_coder}
            )
            aus.codec_context.bit_rate = 64000 * ch
            aus.codec_context.thread_count = 1
            frame_size = 1024
            vtb, atb = Fraction(1, fps), Fraction(1, sr)
            a_pos = 0

            def encode_audio(upto: int) -> None:
                nonlocal a_pos
                while a_pos < upto:
                    stop = min(upto, a_pos + frame_size)
                    af = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(audio[:, a_pos:stop]), format="fltp", layout=layout
                    )
                    af.sample_rate, af.pts, af.time_base = sr, a_pos, atb
                    container.mux(aus.encode(af))
                    a_pos = stop

            for j in range(meta["n_frames"]):
                vf = av.VideoFrame.from_ndarray(renderer.frame(j), format="rgb24")
                vf.pts, vf.time_base = j, vtb
                container.mux(vs.encode(vf))
                # keep audio in step with video; whole 1024-sample frames until the end
                target = round((j + 1) * sr / fps)
                if j == meta["n_frames"] - 1:
                    encode_audio(meta["n_samples"])
                else:
                    encode_audio(a_pos + ((target - a_pos) // frame_size) * frame_size)
            container.mux(vs.encode(None))
            container.mux(aus.encode(None))
    return meta


# --------------------------------------------------------------------------------------------------
# the whole dataset


def _fmt_rows(video_id: str, ts: np.ndarray, scores: np.ndarray | None) -> list[str]:
    if scores is None:
        return [f"{video_id},{int(t)}\n" for t in ts]
    return [
        f"{video_id},{int(t)}," + ",".join(f"{v:.6f}" for v in row) + "\n"
        for t, row in zip(ts, scores)
    ]


def _write_text(path, lines: list[str]) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.writelines(lines)


def _one(args) -> tuple[str, str, np.ndarray, np.ndarray]:
    videos_dir, video_id, spec, split = args
    meta = generate_video(Path(videos_dir) / f"{video_id}.mp4", video_id, spec, split)
    ts, scores = generate_labels(meta, spec)
    return split, video_id, ts, scores


def generate_demo(
    videos_dir,
    labels: dict[str, str],
    test_ground_truth: str,
    spec: DemoSpec = DemoSpec(),
    jobs: int = 1,
) -> None:
    """Write the demo dataset.

    ``videos_dir/<id>.mp4`` for every video; ``labels["train"]`` and ``labels["val"]`` as EEV CSVs
    (``YouTube ID,Timestamp (milliseconds),<15 scores>``); ``labels["test"]`` in the released-test
    layout (``Video ID,Timestamp (milliseconds)`` only); ``test_ground_truth`` with the test videos'
    scores (``Video ID,Timestamp (milliseconds),<15 scores>``). ``jobs`` > 1 encodes videos in that
    many processes (the output does not depend on it).
    """
    missing = [s for s in SPLITS if s not in labels]
    if missing:
        raise KeyError(f"labels needs paths for splits {missing}")
    videos_dir = Path(videos_dir)
    videos_dir.mkdir(parents=True, exist_ok=True)
    work = [
        (str(videos_dir), vid, spec, split)
        for split in SPLITS
        for vid in demo_video_ids(split, spec.count(split))
    ]
    ids = [w[1] for w in work]
    if len(set(ids)) != len(ids):  # pragma: no cover - a sha256 prefix collision
        raise RuntimeError("demo video IDs collide")
    if jobs > 1 and len(work) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = list(pool.map(_one, work))
    else:
        results = [_one(w) for w in work]

    names = ",".join(EXPRESSIONS)
    out: dict[str, list[str]] = {
        "train": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "val": [f"{ID_HEADER_TRAIN},{TIMESTAMP_HEADER},{names}\n"],
        "test": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER}\n"],
        "gt": [f"{ID_HEADER_TEST},{TIMESTAMP_HEADER},{names}\n"],
    }
    for split, vid, ts, scores in results:
        if split == "test":
            out["test"] += _fmt_rows(vid, ts, None)
            out["gt"] += _fmt_rows(vid, ts, scores)
        else:
            out[split] += _fmt_rows(vid, ts, scores)
    for split in SPLITS:
        _write_text(labels[split], out[split])
    _write_text(test_ground_truth, out["gt"])


def main(argv: list[str] | None = None) -> int:
    defaults = DemoSpec()
    p = argparse.ArgumentParser(prog="python -m eevflow.demo", description=__doc__.split("\n")[0])
    p.add_argument("--videos-dir", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--val", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--test-ground-truth", required=True)
    for field in ("n_train", "n_val", "n_test", "seed"):
        p.add_argument(f"--{field.replace('_', '-')}", type=int, default=getattr(defaults, field))
    for field in ("min_seconds", "max_seconds", "noise_std", "no_detection_fraction"):
        p.add_argument(f"--{field.replace('_', '-')}", type=float, default=getattr(defaults, field))
    p.add_argument("--jobs", type=int, default=1)
    a = p.parse_args(argv)
    spec = dataclasses.replace(
        defaults,
        **{
            f: getattr(a, f)
            for f in (
                "n_train",
                "n_val",
                "n_test",
                "seed",
                "min_seconds",
                "max_seconds",
                "noise_std",
                "no_detection_fraction",
            )
        },
    )
    generate_demo(
        a.videos_dir,
        {"train": a.train, "val": a.val, "test": a.test},
        a.test_ground_truth,
        spec,
        jobs=a.jobs,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
