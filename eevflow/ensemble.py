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


def simplex_grid(n_members: int, step: float) -> list[tuple[float, ...]]:
    """All weight vectors with entries in multiples of ``step`` summing to 1."""
    k = round(1 / step)
    if abs(k * step - 1) > 1e-9:
        raise ValueError(f"grid_step must divide 1, got {step}")

    def rec(n, left):
        if n == 1:
            yield (left,)
            return
        for i in range(left + 1):
            for rest in rec(n - 1, left - i):
                yield (i, *rest)

    return [tuple(i / k for i in w) for w in rec(n_members, k)]


def grid_search_weights(
    members: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
    targets: list[str],
    step: float = 0.1,
    policy: str = "minus_one",
    ignore_undetected: bool = True,
    unscorable: str = "exclude",
) -> tuple[dict[str, float], list[dict]]:
    """Weights on the simplex grid that maximise validation M_rho; returns them and every trial.
    Validation M_rho is scored as in the score table: ``policy``, ``ignore_undetected`` and
    ``unscorable`` (see :func:`eevflow.report.score_predictions`).

    Ties go to the first weight vector in grid order, so the choice is deterministic.
    """
    from eevflow.report import score_predictions

    names = list(members)
    trials, best = [], None
    for w in simplex_grid(len(names), step):
        weights = dict(zip(names, w))
        pred = weighted_average(members, weights, targets)
        m = score_predictions(
            truth, pred, targets, policy, ignore_undetected, unscorable=unscorable
        )["m_rho"]
        trials.append({"weights": weights, "val_m_rho": m})
        if best is None or m > best["val_m_rho"]:
            best = trials[-1]
    return best["weights"], trials
