"""The prediction targets: their names and the range their values live in (config ``targets`` and
``target_range``). EEV's 15 expressions are scores in [0, 1] (the default); OMG-Emotion's arousal
and valence are in [-1, 1]; ``null`` is an unbounded regression target.

The range fixes the output activation of the families that have one (bi-GRU, MGN-MA, OMG):
[0, 1] -> sigmoid, [-1, 1] -> tanh, any other [lo, hi] -> lo + (hi - lo) x sigmoid, unbounded ->
none. The TCN and the linear baseline keep their linear outputs (the winner's). Losses that need
probabilities (bce, kl) map a bounded range onto [0, 1] first (:func:`to_unit`).
No torch import at module level: the Snakefile reads this module when it parses the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the EEV default
UNIT = (0.0, 1.0)


def parse_range(value: Any) -> tuple[float, float] | None:
    """``[lo, hi]`` with lo < hi, or None (unbounded); anything else is a ValueError."""
    if value is None:
        return None
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"target_range must be [low, high] or null, got {value!r}") from None
    if not lo < hi:
        raise ValueError(f"target_range: low {lo} must be below high {hi}")
    return (lo, hi)


def activation_name(target_range) -> str:
    """The output activation a range implies: sigmoid, tanh, scaled_sigmoid or none."""
    r = parse_range(target_range)
    if r is None:
        return "none"
    if r == UNIT:
        return "sigmoid"
    if r == (-1.0, 1.0):
        return "tanh"
    return "scaled_sigmoid"


def bounded(x, target_range):
    """A torch tensor of raw outputs mapped into the range by its activation (identity when
    unbounded)."""
    import torch

    r = parse_range(target_range)
    if r is None:
        return x
    if r == UNIT:
        return torch.sigmoid(x)
    if r == (-1.0, 1.0):
        return torch.tanh(x)
    lo, hi = r
    return lo + (hi - lo) * torch.sigmoid(x)


def to_unit(v, target_range):
    """Values (array or tensor) of a bounded range mapped linearly onto [0, 1]."""
    r = parse_range(target_range)
    if r is None:
        raise ValueError("this needs a bounded target_range (it maps the targets onto [0, 1])")
    lo, hi = r
    return (v - lo) / (hi - lo)


@dataclass(frozen=True)
class Targets:
    """The configured targets: ``names`` in column order and ``range`` (None: unbounded)."""

    names: tuple[str, ...]
    range: tuple[float, float] | None = UNIT

    @classmethod
    def from_config(cls, config: dict) -> Targets:
        rng = parse_range(config.get("target_range", list(UNIT)))
        return cls(tuple(config["targets"]), rng)

    @property
    def activation(self) -> str:
        return activation_name(self.range)

    @property
    def is_eev(self) -> bool:
        """Scores in [0, 1], where an all-zero row means "no face detected" (EEV's rule)."""
        return self.range == UNIT

    def clip(self, values):
        """Numpy values clipped into the range (unchanged when unbounded)."""
        import numpy as np

        if self.range is None:
            return values
        return np.clip(values, *self.range)
