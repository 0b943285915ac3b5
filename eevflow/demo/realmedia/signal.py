"""How viewers respond to a planned real-media video: each expression's driver (what is on screen
and what is heard, see the table in ``eevflow.demo.realmedia``), the response model (lag,
smoothing, level), and the label rows, noisy and noise-free."""

from __future__ import annotations

import numpy as np

from eevflow.demo.realmedia.plan import _S_NODET, _S_NOISE, SCENES, RealMediaSpec, _rng
from eevflow.demo.signal import finish_labels
from eevflow.demo.spec import EXPRESSIONS

DT = 1.0 / 6.0
#: every expression also rises a little with the loudness of what is heard (arousal)
AROUSAL_WEIGHT = 0.08
#: each expression's response: driver (as documented), lag and smoothing in seconds, base, gain
RESPONSES: tuple[dict, ...] = (
    {"expression": "amusement", "driver": "cat or cartoon on screen (cartoon 1, cat 0.8)",
     "lag_s": 1.0, "sigma_s": 0.4, "base": 0.08, "gain": 0.55},
    {"expression": "anger", "driver": "alarm heard AND text on screen",
     "lag_s": 0.8, "sigma_s": 0.3, "base": 0.03, "gain": 0.50},
    {"expression": "awe", "driver": "space photo, rising over 1.5 s (leaky, 1.5 s)",
     "lag_s": 1.5, "sigma_s": 0.5, "base": 0.05, "gain": 0.55},
    {"expression": "concentration", "driver": "text on screen, building over 4 s (falls in 1 s)",
     "lag_s": 1.2, "sigma_s": 0.4, "base": 0.10, "gain": 0.55},
    {"expression": "confusion", "driver": "science image x (0.5 + 0.5 speech heard)",
     "lag_s": 1.0, "sigma_s": 0.4, "base": 0.05, "gain": 0.50},
    {"expression": "contempt", "driver": "texture on screen for over 1.5 s, full at 4.5 s",
     "lag_s": 1.3, "sigma_s": 0.5, "base": 0.03, "gain": 0.45},
    {"expression": "contentment", "driver": "texture or object photo AND nothing heard",
     "lag_s": 1.5, "sigma_s": 0.6, "base": 0.10, "gain": 0.45},
    {"expression": "disappointment", "driver": "end of a cat or cartoon scene (decays, 1.5 s)",
     "lag_s": 0.9, "sigma_s": 0.3, "base": 0.04, "gain": 0.50},
    {"expression": "doubt", "driver": "speech heard AND no face on screen",
     "lag_s": 1.1, "sigma_s": 0.4, "base": 0.04, "gain": 0.45},
    {"expression": "elation", "driver": "bikes clip, + 0.6 x chime (and 1.5 s after)",
     "lag_s": 0.8, "sigma_s": 0.4, "base": 0.06, "gain": 0.50},
    {"expression": "interest", "driver": "speech heard x (0.6 + 0.4 face on screen)",
     "lag_s": 1.0, "sigma_s": 0.4, "base": 0.12, "gain": 0.50},
    {"expression": "pain", "driver": "noise heard x sigmoid((level dB + 10) / 2): loud only",
     "lag_s": 0.7, "sigma_s": 0.25, "base": 0.02, "gain": 0.55},
    {"expression": "sadness", "driver": "sad sound x (0.3 + 0.7 texture on screen)",
     "lag_s": 1.4, "sigma_s": 0.6, "base": 0.04, "gain": 0.50},
    {"expression": "surprise", "driver": "onset of alarm / noise / click / chime (decays, 0.8 s)",
     "lag_s": 0.7, "sigma_s": 0.2, "base": 0.04, "gain": 0.60},
    {"expression": "triumph", "driver": "chime (and 1.5 s after) AND space or bikes on screen",
     "lag_s": 1.2, "sigma_s": 0.5, "base": 0.03, "gain": 0.55},
)
assert tuple(r["expression"] for r in RESPONSES) == EXPRESSIONS
#: surprise per sound category at its onset (scaled by the sound's level)
ONSET_SURPRISE = {"alarm": 1.0, "noise": 0.8, "click": 0.6, "chime": 0.5}
CHIME_AFTERGLOW_S = 1.5


def response_table() -> list[dict]:
    """The response model, one dict per expression in ``EXPRESSIONS`` order: expression, driver
    (in words), lag_s, sigma_s, base, gain; plus lag and sigma in label steps."""
    return [
        {**r, "index": e, "lag": round(r["lag_s"] * 6), "sigma": r["sigma_s"] * 6}
        for e, r in enumerate(RESPONSES)
    ]


def level_factor(level_db: float) -> float:
    """A sound's loudness in [0, 1]: 0 at -27 dB of the peak, 1 at -3 dB."""
    return float(np.clip((level_db + 27.0) / 24.0, 0.0, 1.0))


def _leaky(x: np.ndarray, rise_s: float, fall_s: float) -> np.ndarray:
    out = np.zeros(len(x))
    a_up, a_down = 1 - np.exp(-DT / rise_s), 1 - np.exp(-DT / fall_s)
    y = 0.0
    for i, v in enumerate(x):
        y += (v - y) * (a_up if v > y else a_down)
        out[i] = y
    return out


def _decay_after(t: np.ndarray, times: list[tuple[float, float]], tau: float) -> np.ndarray:
    out = np.zeros(len(t))
    for t0, amp in times:
        after = t >= t0
        out[after] += amp * np.exp(-(t[after] - t0) / tau)
    return np.minimum(out, 1.0)


def content(meta: dict) -> dict[str, np.ndarray]:
    """What is on screen and heard at each label time: ``scene:<category>`` (0/1),
    ``scene_age`` (seconds since the scene began), ``photo`` (0/1), ``sound:<category>`` (0/1),
    ``sound_level_db`` (of the sound heard, -inf in silence), ``onsets`` and ``scene_ends``."""
    n, fps = meta["n_labels"], meta["fps"]
    steps = np.arange(n)
    t = steps * DT
    frame_at = (steps * fps) // 6  # the frame shown at label time i / 6
    out: dict = {f"scene:{c}": np.zeros(n) for c in SCENES}
    out["scene_age"] = np.zeros(n)
    out["photo"] = np.zeros(n)
    for s in meta["scenes"]:
        on = (frame_at >= s["start_frame"]) & (frame_at < s["end_frame"])
        out[f"scene:{s['category']}"][on] = 1.0
        out["scene_age"][on] = t[on] - s["start_s"]
        out["photo"][on] = 1.0 if s["source"] == "photo" else 0.0
    cats = {ev["category"] for ev in meta["sounds"]} | set(ONSET_SURPRISE) | {"speech", "sad"}
    for c in cats:
        out[f"sound:{c}"] = np.zeros(n)
    out["sound_level_db"] = np.full(n, -np.inf)
    out["chime_afterglow"] = np.zeros(n)
    loud = np.zeros(n)
    for ev in meta["sounds"]:
        on = (t >= ev["start_s"]) & (t < ev["end_s"])
        out[f"sound:{ev['category']}"][on] = 1.0
        out["sound_level_db"][on] = ev["level_db"]
        loud[on] = level_factor(ev["level_db"])
        if ev["category"] == "chime":
            glow = (t >= ev["start_s"]) & (t < max(ev["end_s"], ev["start_s"] + CHIME_AFTERGLOW_S))
            out["chime_afterglow"][glow] = 1.0
    loud = np.maximum(loud, 0.4 * out["scene:cartoon"])  # the cartoon's own soundtrack
    out["arousal"] = loud
    out["onsets"] = [
        (ev["start_s"], ONSET_SURPRISE[ev["category"]] * level_factor(ev["level_db"]))
        for ev in meta["sounds"]
        if ev["category"] in ONSET_SURPRISE
    ]
    out["scene_ends"] = [
        (s["end_s"], 1.0)
        for s in meta["scenes"]
        if s["category"] in ("cat", "cartoon") and s["end_s"] < meta["duration_s"]
    ]
    out["t"] = t
    return out


def drivers(meta: dict) -> np.ndarray:
    """Each expression's driver at each label time, before lag and smoothing: (N, 15) in [0, 1]."""
    c = content(meta)
    S = lambda k: c[f"scene:{k}"]  # noqa: E731
    A = lambda k: c[f"sound:{k}"]  # noqa: E731
    t, age = c["t"], c["scene_age"]
    heard = np.clip(sum(c[k] for k in c if k.startswith("sound:")), 0, 1)
    level = c["sound_level_db"]
    pain_level = 1 / (1 + np.exp(-(np.where(np.isfinite(level), level, -99.0) + 10.0) / 2.0))
    d = {
        "amusement": np.maximum(S("cartoon"), 0.8 * S("cat")),
        "anger": A("alarm") * S("text"),
        "awe": _leaky(S("space"), 1.5, 1.5),
        "concentration": _leaky(S("text"), 4.0, 1.0),
        "confusion": S("science") * (0.5 + 0.5 * A("speech")),
        "contempt": S("texture") * np.clip((age - 1.5) / 3.0, 0, 1),
        "contentment": (S("texture") + S("object")) * (1 - heard),
        "disappointment": _decay_after(t, c["scene_ends"], 1.5),
        "doubt": A("speech") * (1 - S("face")),
        "elation": np.minimum(1.0, S("action") + 0.6 * c["chime_afterglow"]),
        "interest": A("speech") * (0.6 + 0.4 * S("face")),
        "pain": A("noise") * pain_level,
        "sadness": A("sad") * (0.3 + 0.7 * S("texture")),
        "surprise": _decay_after(t, c["onsets"], 0.8),
        "triumph": c["chime_afterglow"] * np.clip(S("space") + S("action"), 0, 1),
    }
    out = np.stack([d[e] for e in EXPRESSIONS], axis=1)
    return np.clip(out + AROUSAL_WEIGHT * c["arousal"][:, None], 0.0, 1.0 + AROUSAL_WEIGHT)


def clean_signal(meta: dict) -> np.ndarray:
    """The noise-free label signal: base + gain x smoothed, lagged driver, (N, 15)."""
    from scipy.ndimage import gaussian_filter1d

    x = drivers(meta)
    n = len(x)
    out = np.empty_like(x)
    for r in response_table():
        e, lag = r["index"], r["lag"]
        shifted = np.zeros(n)
        if n > lag:
            shifted[lag:] = x[: n - lag, e]
        smooth = gaussian_filter1d(shifted, r["sigma"], mode="nearest") if n else shifted
        out[:, e] = r["base"] + r["gain"] * smooth
    return out


def label_noise(meta: dict, spec: RealMediaSpec) -> np.ndarray:
    """Rater noise: white plus a slow drift (Gaussian-smoothed over 1 s), std ``noise_std`` and
    ``noise_std / 2``, independent per expression."""
    from scipy.ndimage import gaussian_filter1d

    n = meta["n_labels"]
    rng = _rng(spec, meta["split"], meta["video_id"], _S_NOISE)
    white = rng.normal(0.0, 1.0, (n, len(EXPRESSIONS)))
    slow = rng.normal(0.0, 1.0, (n, len(EXPRESSIONS)))
    if n:
        sigma = 6.0
        slow = gaussian_filter1d(slow, sigma, axis=0, mode="nearest")
        slow *= np.sqrt(2 * np.sqrt(np.pi) * sigma)  # unit variance (away from the ends)
    return spec.noise_std * (white + 0.5 * slow)


def generate_labels_and_oracle(
    meta: dict, spec: RealMediaSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The label rows of one planned video and their noise-free signal (the oracle).

    Returns ``(timestamps_us int64 (N,), scores (N, 15), oracle (N, 15))``: both rounded to
    6 decimals and clipped to [1e-3, 1], with the same contiguous runs of all-0.0 "no face
    detected" rows.
    """
    nodet = _rng(spec, meta["split"], meta["video_id"], _S_NODET)
    return finish_labels(clean_signal(meta), label_noise(meta, spec), nodet, spec)
