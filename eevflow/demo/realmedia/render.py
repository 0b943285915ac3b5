"""Rendering a planned real-media video: the frames (photos with a slow pan and zoom, or cuts of
real clips) and the soundtrack (real sounds over a quiet room tone)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from eevflow.demo.realmedia.media import (
    CLIP_WITH_SOUND,
    CLIPS,
    clip_audio,
    clip_frames,
    load_sound,
    photo,
)
from eevflow.demo.realmedia.plan import _S_MIX, RealMediaSpec, _rng

#: a photo is scaled to cover this much more than the frame, so that the pan has room
_MARGIN = 1.35


@lru_cache(maxsize=64)
def _photo_image(name: str, width: int, height: int):
    from PIL import Image

    from eevflow.demo.render import _cover

    return Image.fromarray(
        _cover(photo(name), math.ceil(width * _MARGIN), math.ceil(height * _MARGIN))
    )


def _gain_lut(gain: float) -> np.ndarray:
    return np.clip(np.rint(np.arange(256) * gain), 0, 255).astype(np.uint8)


def _smoothstep(u: float) -> float:
    u = min(1.0, max(0.0, u))
    return u * u * (3 - 2 * u)


class VideoRenderer:
    """Renders frame ``j`` of a planned video as an RGB uint8 (height, width, 3) array."""

    def __init__(self, meta: dict, spec: RealMediaSpec):
        self.meta = meta
        self.fps = meta["fps"]
        self.size = (meta["width"], meta["height"])
        self.scenes = meta["scenes"]
        self.starts = np.array([s["start_frame"] for s in self.scenes])
        self._luts = [_gain_lut(s["gain"]) if s["source"] == "photo" else None for s in self.scenes]

    def scene_index(self, j: int) -> int:
        return int(np.searchsorted(self.starts, j, side="right") - 1)

    def _photo(self, k: int, j: int) -> np.ndarray:
        from PIL import Image

        s = self.scenes[k]
        w, h = self.size
        img = _photo_image(s["name"], w, h)
        bw, bh = img.size
        span = max(1, s["end_frame"] - s["start_frame"])
        u = _smoothstep((j - s["start_frame"]) / span)
        z = s["zoom"][0] + (s["zoom"][1] - s["zoom"][0]) * u
        # the visible box: the whole margin-scaled photo at zoom 1, 1 / zoom of it at zoom z
        box_w, box_h = bw / z, bh / z
        px = s["pan_from"][0] + (s["pan_to"][0] - s["pan_from"][0]) * u
        py = s["pan_from"][1] + (s["pan_to"][1] - s["pan_from"][1]) * u
        x0 = px * (bw - box_w)
        y0 = py * (bh - box_h)
        out = img.resize((w, h), Image.Resampling.BILINEAR, box=(x0, y0, x0 + box_w, y0 + box_h))
        return np.take(self._luts[k], np.asarray(out))

    def _clip(self, k: int, j: int) -> np.ndarray:
        s = self.scenes[k]
        frames = clip_frames(s["category"], *self.size)
        src_fps = CLIPS[s["category"]][2]
        t = s["clip_start_s"] + (j - s["start_frame"]) / self.fps
        return frames[min(len(frames) - 1, int(math.floor(t * src_fps + 1e-9)))]

    def frame(self, j: int) -> np.ndarray:
        k = self.scene_index(j)
        if self.scenes[k]["source"] == "clip":
            return self._clip(k, j)
        return self._photo(k, j)


def _fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    x = np.array(x, dtype=np.float64)
    n_in, n_out = min(n_in, len(x) // 2), min(n_out, len(x) // 2)
    if n_in > 0:
        x[:n_in] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(n_in) / n_in)
    if n_out > 0:
        x[len(x) - n_out :] *= 0.5 + 0.5 * np.cos(np.pi * np.arange(n_out) / n_out)
    return x


def _sound_signal(ev: dict, sr: int) -> np.ndarray:
    """One sound event at unit gain: its files at their offsets, cut to the event's length."""
    n = max(0, round((ev["end_s"] - ev["start_s"]) * sr))
    x = np.zeros(n)
    for part in ev["parts"]:
        s0 = round(part["offset_s"] * sr)
        if s0 >= n:
            break
        y = load_sound(part["package"], part["name"], sr)[: n - s0]
        x[s0 : s0 + len(y)] += y
    return _fade(x, int(0.005 * sr), int(0.05 * sr))


def render_audio(meta: dict, spec: RealMediaSpec) -> np.ndarray:
    """The whole soundtrack of a planned video: float32 (channels, n_samples) in [-1, 1]."""
    from scipy.signal import butter, sosfilt

    sr, n, ch = meta["sample_rate"], meta["n_samples"], meta["channels"]
    rng = _rng(spec, meta["split"], meta["video_id"], _S_MIX)
    # room tone: low-passed noise at about -50 dBFS RMS, independent per channel
    sos = butter(2, 1500.0, btype="lowpass", fs=sr, output="sos")
    floor = sosfilt(sos, rng.normal(0.0, 1.0, (ch, n + sr // 10)), axis=1)[:, sr // 10 :]
    floor *= 0.003 / max(1e-12, float(np.sqrt(np.mean(floor**2))))
    left, right = np.zeros(n), np.zeros(n)
    for ev in meta["sounds"]:
        s0 = min(n, round(ev["start_s"] * sr))
        x = _sound_signal(ev, sr)[: n - s0] * 10 ** (ev["level_db"] / 20)
        left[s0 : s0 + len(x)] += (1 - ev["pan"]) * x
        right[s0 : s0 + len(x)] += (1 + ev["pan"]) * x
    # the cartoon clip brings its own soundtrack
    for s in meta["scenes"]:
        if s["category"] != CLIP_WITH_SOUND or s["source"] != "clip":
            continue
        track = clip_audio(s["category"], sr)
        s0 = min(n, round(s["start_s"] * sr))
        length = min(n, round(s["end_s"] * sr)) - s0
        a0 = round(s["clip_start_s"] * sr)
        x = _fade(track[a0 : a0 + length], int(0.02 * sr), int(0.02 * sr)) * 10 ** (-14 / 20)
        left[s0 : s0 + len(x)] += x
        right[s0 : s0 + len(x)] += x
    if ch == 1:
        out = floor + ((left + right) / 2)[None, :]
    else:
        out = floor + np.stack([left, right])
    return np.clip(out, -1, 1).astype(np.float32)
