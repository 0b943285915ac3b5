"""Weighted ensembles of variants' predictions (paper Eq. 5: S = lambda S1 + (1 - lambda) S2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

KEYS = ["video_id", "timestamp_us"]


def weighted_average(
    members: dict[str, pd.DataFrame], weights: dict[str, float], targets: list[str]
) -> pd.DataFrame:
    """Average the members' predictions row by row with the given weights (normalised to sum 1).

    Rows are matched on (video_id, timestamp_us); a row is predicted only where every member
    predicts it (a video that a member could not score is left out, not silently weighted down).
    """
    if set(members) != set(weights):
        raise ValueError(f"weights {sorted(weights)} do not match members {sorted(members)}")
    total = float(sum(weights.values()))
    if total <= 0 or any(w < 0 for w in weights.values()):
        raise ValueError("ensemble weights must be non-negative with a positive sum")
    names = list(members)
    base = members[names[0]][KEYS]
    for name in names[1:]:
        base = base.merge(members[name][KEYS], on=KEYS, how="inner")
    out = base.copy()
    acc = np.zeros((len(base), len(targets)), np.float64)
    for name in names:
        aligned = base.merge(members[name], on=KEYS, how="left")
        acc += (weights[name] / total) * aligned[targets].to_numpy(np.float64)
    out[targets] = acc.astype(np.float32)
    return out
