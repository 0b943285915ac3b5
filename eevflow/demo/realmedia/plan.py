"""The real-media demo's size and randomness (``RealMediaSpec``), its video IDs, seeding, and the
plan of one video: its format, its scenes and its sound events, as JSON-able metadata that
rendering and labels only read."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import numpy as np

from eevflow.demo.realmedia.media import CLIPS, PHOTOS, SOUNDS, sound_seconds
from eevflow.demo.spec import check_spec, seeded_rng, youtube_like_ids

#: scene categories, in this order (a scene shows a photo of, or a clip from, one category)
SCENES: tuple[str, ...] = (
    "cat",
    "cartoon",
    "space",
    "text",
    "face",
    "action",
    "texture",
    "science",
    "object",
)
#: sound categories and how often a sound event is drawn from each (when not a companion)
SOUND_WEIGHTS: dict[str, float] = {
    "speech": 0.30,
    "alarm": 0.15,
    "chime": 0.15,
    "noise": 0.12,
    "sad": 0.13,
    "click": 0.15,
}
#: the soundtrack editor's habits: the sound that comes with a scene (``companion_p`` of the time)
COMPANIONS: dict[str, str] = {
    "text": "alarm",
    "space": "chime",
    "face": "speech",
    "action": "chime",
    "texture": "sad",
    "science": "speech",
    "object": "click",
}
#: per sound category: (min, max) files chained in one event, pause between them in seconds,
#: longest event in seconds (cut with a fade-out), level range in dB of the peak
SOUND_SHAPES: dict[str, dict] = {
    "speech": {"parts": (1, 3), "pause": (0.15, 0.5), "max_s": 6.0, "level_db": (-20.0, -6.0)},
    "alarm": {"parts": (1, 2), "pause": (0.1, 0.4), "max_s": 3.5, "level_db": (-22.0, -3.0)},
    "chime": {"parts": (1, 1), "pause": (0.0, 0.0), "max_s": 3.0, "level_db": (-22.0, -6.0)},
    "noise": {"parts": (1, 2), "pause": (0.0, 0.0), "max_s": 3.0, "level_db": (-24.0, -3.0)},
    "sad": {"parts": (1, 1), "pause": (0.0, 0.0), "max_s": 3.0, "level_db": (-22.0, -6.0)},
    "click": {"parts": (1, 2), "pause": (0.2, 0.8), "max_s": 2.0, "level_db": (-24.0, -6.0)},
}
SPLITS = ("train", "val", "test")

_FPS_CHOICES = (24, 25, 30)
_SIZE_CHOICES = ((320, 180), (256, 144), (320, 240), (288, 216))  # (width, height)
_RATE_CHOICES = (44100, 48000)

# random streams (the last word of each SeedSequence entropy)
_S_PARAMS, _S_SCENES, _S_SOUNDS, _S_RENDER, _S_MIX, _S_NOISE, _S_NODET = range(7)


@dataclass(frozen=True)
class RealMediaSpec:
    """Size and randomness of the real-media demo (defaults: configs/demo_realmedia.yaml)."""

    n_train: int = 16
    n_val: int = 6
    n_test: int = 6
    min_seconds: float = 30.0
    max_seconds: float = 40.0
    seed: int = 0
    label_rate_hz: float = 6.0
    noise_std: float = 0.1
    no_detection_fraction: float = 0.05
    # scenes and sounds (seconds)
    scene_min_s: float = 2.5
    scene_max_s: float = 6.0
    sound_lead_max_s: float = 1.5
    sound_gap_min_s: float = 0.4
    sound_gap_max_s: float = 2.5
    companion_p: float = 0.4
    # label model
    min_score: float = 1e-3
    # encoding
    x264_preset: str = "veryfast"
    x264_crf: int = 23
    keyframe_seconds: float = 4.0
    aac_coder: str = "fast"

    def __post_init__(self):
        check_spec(self)
        if not 0 < self.scene_min_s <= self.scene_max_s:
            raise ValueError("need 0 < scene_min_s <= scene_max_s")

    def count(self, split: str) -> int:
        return {"train": self.n_train, "val": self.n_val, "test": self.n_test}[split]


def realmedia_video_ids(split: str, n: int) -> list[str]:
    """``n`` deterministic 11-character YouTube-like IDs (distinct across splits, and from the
    synthetic demo's)."""
    return youtube_like_ids("eevflow-realmedia", split, n)


def _rng(spec: RealMediaSpec, split: str, video_id: str, stream: int) -> np.random.Generator:
    return seeded_rng(spec.seed, f"realmedia/{split}/{video_id}", stream)


# --------------------------------------------------------------------------------------------------
# scenes


def _scene(rng: np.random.Generator, category: str, use_clip: bool, f0: int, f1: int, fps: int):
    scene = {
        "category": category,
        "start_frame": f0,
        "end_frame": f1,
        "start_s": f0 / fps,
        "end_s": f1 / fps,
    }
    if use_clip:
        name, n_src, src_fps = CLIPS[category]
        room = max(0.0, n_src / src_fps - (f1 - f0) / fps)
        scene.update(source="clip", name=name, clip_start_s=float(rng.uniform(0.0, room)))
    else:
        # zoom in or out, by at least 0.1: never a still
        lo, hi = float(rng.uniform(1.0, 1.1)), float(rng.uniform(1.2, 1.35))
        scene.update(
            source="photo",
            name=str(rng.choice(PHOTOS[category])),
            zoom=[lo, hi] if rng.random() < 0.5 else [hi, lo],
            pan_from=[float(u) for u in rng.uniform(0, 1, 2)],
            pan_to=[float(u) for u in rng.uniform(0, 1, 2)],
            gain=float(rng.uniform(0.9, 1.1)),
        )
    return scene


def _scenes(rng: np.random.Generator, n_frames: int, fps: int, spec: RealMediaSpec) -> list:
    scenes, f0, order = [], 0, []
    while f0 < n_frames:
        if not order:
            order = [SCENES[int(k)] for k in rng.permutation(len(SCENES))]
        category = order.pop(0)
        # the face category mixes a photo (the cameraman) and a clip (a man on a car phone)
        use_clip = category in CLIPS and (category not in PHOTOS or bool(rng.random() < 0.5))
        seconds = float(rng.uniform(spec.scene_min_s, spec.scene_max_s))
        if use_clip:  # a clip scene lasts at most the clip
            _, n_src, src_fps = CLIPS[category]
            seconds = min(seconds, n_src / src_fps - 0.2)
        f1 = min(n_frames, f0 + max(1, round(seconds * fps)))
        if n_frames - f1 < round(0.5 * spec.scene_min_s * fps):  # no sliver of a last scene
            f1 = n_frames  # (a clip that ends early holds its last frame)
        scenes.append(_scene(rng, category, use_clip, f0, f1, fps))
        f0 = f1
    return scenes


def scene_at(scenes: list, t: float) -> dict:
    for s in scenes:
        if s["start_s"] <= t < s["end_s"]:
            return s
    return scenes[-1]


# --------------------------------------------------------------------------------------------------
# sounds


def _sound(rng: np.random.Generator, category: str, start: float, duration: float) -> dict:
    shape = SOUND_SHAPES[category]
    files = SOUNDS[category]
    n_parts = int(rng.integers(shape["parts"][0], shape["parts"][1] + 1))
    parts, t = [], 0.0
    picks = rng.permutation(len(files))
    for k in range(n_parts):
        package, name = files[int(picks[k % len(files)])]
        if k:
            t += float(rng.uniform(*shape["pause"]))
        parts.append({"package": package, "name": name, "offset_s": t})
        t += sound_seconds(package, name)
    length = min(t, shape["max_s"], duration - start)
    return {
        "category": category,
        "parts": parts,
        "start_s": start,
        "end_s": start + length,
        "level_db": float(rng.uniform(*shape["level_db"])),
        "pan": float(rng.uniform(-0.3, 0.3)),
    }


def _sounds(rng: np.random.Generator, duration: float, scenes: list, spec: RealMediaSpec) -> list:
    names = list(SOUND_WEIGHTS)
    weights = np.array([SOUND_WEIGHTS[k] for k in names])
    weights = weights / weights.sum()
    events = []
    t = float(rng.uniform(0.2, spec.sound_lead_max_s))
    while t < duration - 0.3:
        companion = COMPANIONS.get(scene_at(scenes, t)["category"])
        if companion and rng.random() < spec.companion_p:
            category = companion
        else:
            category = names[int(rng.choice(len(names), p=weights))]
        ev = _sound(rng, category, t, duration)
        events.append(ev)
        t = ev["end_s"] + float(rng.uniform(spec.sound_gap_min_s, spec.sound_gap_max_s))
    return events


# --------------------------------------------------------------------------------------------------
# the plan


def plan_video(video_id: str, spec: RealMediaSpec, split: str) -> dict:
    """All of one video's parameters, scenes and sound events (reads the sound files' lengths;
    writes nothing)."""
    rng = _rng(spec, split, video_id, _S_PARAMS)
    fps = int(rng.choice(_FPS_CHOICES))
    width, height = _SIZE_CHOICES[int(rng.integers(len(_SIZE_CHOICES)))]
    sample_rate = int(rng.choice(_RATE_CHOICES))
    channels = int(rng.integers(1, 3))
    seconds = float(rng.uniform(spec.min_seconds, spec.max_seconds))
    n_frames = max(1, round(seconds * fps))
    duration = n_frames / fps
    scenes = _scenes(_rng(spec, split, video_id, _S_SCENES), n_frames, fps, spec)
    sounds = _sounds(_rng(spec, split, video_id, _S_SOUNDS), duration, scenes, spec)
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
        "n_samples": round(n_frames * sample_rate / fps),
        "n_labels": (n_frames * 6) // fps,  # floor(duration * 6), exactly
        "scenes": scenes,
        "sounds": sounds,
    }

