"""Small synthetic training sets with a planted signal, shared by the model-family tests, and the
checkpoint round trip every family must pass."""

from __future__ import annotations

import numpy as np
import torch

from eevflow.inference import Predictor
from eevflow.sequences import VideoSeq


def slow_signal_videos(n: int, seed: int, T: int = 240) -> list[VideoSeq]:
    """Targets (5) follow a slow (period 20 s) feature of the first block's 5 columns of 12;
    ~10% of the rows undetected (all-zero labels)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = np.arange(T) / 6
        slow = np.sin(2 * np.pi * (t / 20 + rng.random(5)[:, None])).T.astype(np.float32)
        f = rng.normal(scale=0.3, size=(T, 12)).astype(np.float32)
        f[:, :5] += slow
        y = (0.5 + 0.4 * slow).astype(np.float32)
        det = rng.random(T) > 0.1
        y[~det] = 0.0
        ts = (np.arange(T) * 1e6 / 6).round().astype(np.int64)
        out.append(VideoSeq(f"v{i}", ts, f, y, det))
    return out


def assert_checkpoint_round_trip(trainer, tmp_path, videos) -> None:
    """The self-describing checkpoint, saved and loaded, rebuilds the same network: identical
    predictions."""
    path = tmp_path / "m.pt"
    torch.save(trainer.checkpoint(), path)
    pred = Predictor.from_checkpoint(torch.load(path, weights_only=True))
    for a, b in zip(pred.predict(videos), trainer.predict(videos), strict=True):
        assert np.array_equal(a, b)
