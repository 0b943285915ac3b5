"""The demo's constants, its size and randomness (``DemoSpec``), video IDs, seeding and the plan.

``plan_video`` makes every random choice of one video (format, duration, event schedules) and
returns it as JSON-able metadata; rendering and labels (``render``, ``signal``) only read it.
"""

from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass

import numpy as np

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

#: ``demo.targets: arousal_valence``: OMG-Emotion's two targets in [-1, 1]. Arousal responds to
#: the audio events, valence to the visual ones, each kind with its own weight (below).
AV_TARGETS: tuple[str, ...] = ("arousal", "valence")
AV_SIGNAL: tuple[dict, ...] = (
    {"target": "arousal", "modality": "audio", "weights": (-0.9, -0.5, -0.1, 0.3, 0.7, 1.0),
     "lag": 3, "sigma": 1.5},
    {"target": "valence", "modality": "visual", "weights": (1.0, 0.6, 0.2, -0.2, -0.6, -1.0),
     "lag": 4, "sigma": 1.5},
)
TARGET_SETS = {"eev": EXPRESSIONS, "arousal_valence": AV_TARGETS}

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
    # label model: the targets (eev: the 15 expressions in [0, 1]; arousal_valence: arousal and
    # valence in [-1, 1], no "no face detected" rows)
    targets: str = "eev"
    base_score: float = 0.08
    gain: float = 0.7
    min_score: float = 1e-3
    # encoding
    x264_preset: str = "veryfast"
    x264_crf: int = 23
    keyframe_seconds: float = 4.0
    aac_coder: str = "fast"

    def __post_init__(self):
        check_spec(self)

    @property
    def target_names(self) -> tuple[str, ...]:
        return TARGET_SETS[self.targets]

    def count(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


def check_spec(spec) -> None:
    """The checks every demo kind's spec shares (sizes, durations, the 6 Hz rate, noise)."""
    if min(spec.n_train, spec.n_val, spec.n_test) < 0:
        raise ValueError("video counts must be >= 0")
    if not 0 < spec.min_seconds <= spec.max_seconds:
        raise ValueError("need 0 < min_seconds <= max_seconds")
    if spec.label_rate_hz != 6.0:
        raise ValueError("EEV labels are at 6 Hz; label_rate_hz must be 6.0")
    if not 0 <= spec.no_detection_fraction < 1:
        raise ValueError("no_detection_fraction must be in [0, 1)")
    if spec.noise_std < 0:
        raise ValueError("noise_std must be >= 0")
    if getattr(spec, "targets", "eev") not in TARGET_SETS:
        raise ValueError(f"demo targets must be one of {sorted(TARGET_SETS)}, got {spec.targets!r}")


def kind_name(modality: str, kind: int) -> str:
    if modality == "visual":
        return f"photo:{VISUAL_KINDS[kind]}"
    what, arg = AUDIO_KINDS[kind]
    if what == "tone":
        return f"tone:{arg:g}Hz"
    return f"noise:{arg[0]:g}-{arg[1]:g}Hz"


# --------------------------------------------------------------------------------------------------
# IDs and seeding


def youtube_like_ids(namespace: str, split: str, n: int) -> list[str]:
    """``n`` deterministic 11-character YouTube-like IDs: a SHA-256 of the namespace, the split
    and the index, base64url."""
    ids = []
    for i in range(n):
        digest = hashlib.sha256(f"{namespace}-{split}-{i}".encode()).digest()
        ids.append(base64.urlsafe_b64encode(digest).decode("ascii")[:11])
    return ids


def demo_video_ids(split: str, n: int) -> list[str]:
    """``n`` deterministic 11-character YouTube-like IDs for ``split`` (distinct across splits)."""
    return youtube_like_ids("eevflow-demo", split, n)


def seeded_rng(seed: int, key: str, stream: int) -> np.random.Generator:
    """A random stream of one video: the seed, a SHA-256 of ``key`` and the stream number
    through ``numpy.random.SeedSequence`` (no global state)."""
    digest = hashlib.sha256(key.encode()).digest()
    words = [int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4)]
    return np.random.default_rng(np.random.SeedSequence([int(seed), *words, stream]))


def _rng(spec: DemoSpec, split: str, video_id: str, stream: int) -> np.random.Generator:
    return seeded_rng(spec.seed, f"{split}/{video_id}", stream)


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
