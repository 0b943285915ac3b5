"""Rendering a planned video: frames (scikit-image photos over a neutral background), audio."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from eevflow.demo.spec import _S_RENDER, _S_SOUND, AUDIO_KINDS, VISUAL_KINDS, DemoSpec, _rng

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
