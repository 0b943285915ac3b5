"""The planted signal (which event kind each expression responds to) and the label rows."""

from __future__ import annotations

import numpy as np

from eevflow.demo.spec import (_S_NODET, _S_NOISE, AV_SIGNAL, EXPRESSIONS, N_KINDS, DemoSpec, _rng,
                               kind_name)

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


def finish_labels(clean: np.ndarray, noise: np.ndarray, nodet_rng: np.random.Generator,
                  spec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labels and the oracle from a noise-free signal (N, 15) and its noise: both rounded to
    6 decimals and clipped to [``spec.min_score``, 1], then the same contiguous runs of rows
    (drawn from ``nodet_rng``) set to all 0.0, EEV's "no face detected"."""
    n = len(clean)
    scores = np.round(np.clip(clean + noise, spec.min_score, 1.0), 6)
    oracle = np.round(np.clip(clean, spec.min_score, 1.0), 6)
    mask = _no_detection_mask(nodet_rng, n, spec.no_detection_fraction)
    scores[mask] = 0.0
    oracle[mask] = 0.0
    return label_timestamps_us(n), scores, oracle


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
    ts, scores, _ = generate_labels_and_oracle(meta, spec)
    return ts, scores


def generate_labels_and_oracle(
    meta: dict, spec: DemoSpec
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``generate_labels`` plus the noise-free signal of the same rows (the oracle): the scores
    before the noise is added, clipped and rounded the same way, all 0.0 on the no-detection rows.
    Returns ``(timestamps_us, scores, oracle)``."""
    from scipy.ndimage import gaussian_filter1d

    n = meta["n_labels"]
    ind = event_indicators(meta)
    names = getattr(spec, "target_names", EXPRESSIONS)
    noise = _rng(spec, meta["split"], meta["video_id"], _S_NOISE).normal(
        0.0, spec.noise_std, (n, len(names))
    )

    def respond(x, lag, sigma):
        shifted = np.zeros(n)
        if n > lag:
            shifted[lag:] = x[: n - lag]
        return gaussian_filter1d(shifted, sigma, mode="nearest") if n else shifted

    if getattr(spec, "targets", "eev") == "arousal_valence":
        clean = np.empty((n, len(AV_SIGNAL)), np.float64)
        for j, sig in enumerate(AV_SIGNAL):
            x = np.asarray(sig["weights"]) @ ind[sig["modality"]]  # one kind at a time
            clean[:, j] = spec.gain * respond(x, sig["lag"], sig["sigma"])
        return (label_timestamps_us(n), np.round(np.clip(clean + noise, -1.0, 1.0), 6),
                np.round(np.clip(clean, -1.0, 1.0), 6))
    clean = np.empty((n, len(EXPRESSIONS)), np.float64)
    for sig in signal_table():
        x = ind[sig["modality"]][sig["kind"]]
        clean[:, sig["index"]] = spec.base_score + spec.gain * respond(x, sig["lag"], sig["sigma"])
    nodet = _rng(spec, meta["split"], meta["video_id"], _S_NODET)
    return finish_labels(clean, noise, nodet, spec)
