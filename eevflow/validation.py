"""Which validation videos choose what: model selection, or ensemble weights.

Every trained model is chosen on validation M_rho (its epoch, its early stop, the linear family's
ridge penalty, a sweep's point). An ensemble whose weights are then chosen on validation M_rho too
(``select_weights: val_grid``) picks weights on the rows that already chose its members, which
flatters the members that fit those rows best. ``validation.weights_holdout`` (a fraction) holds a
deterministic subset of the validation videos out of model selection and chooses ensemble weights
on those alone; 0 (the default) reuses every validation video for both, and the score report says
so.

The subset is a function of the video IDs alone (SHA-256 of each ID, lowest first), so it does
not depend on the order of the label file and adding a video moves at most one other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import pandas as pd


def _key(video_id: str) -> str:
    return hashlib.sha256(f"eevflow-weights-holdout/{video_id}".encode()).hexdigest()


def weights_holdout(video_ids: Iterable[str], fraction: float) -> list[str]:
    """The validation videos reserved for ensemble weights: ``round(fraction * n)`` of them,
    at least one when ``fraction > 0`` and never all (model selection keeps at least one)."""
    ids = sorted(set(video_ids))
    if not 0 <= fraction < 1:
        raise ValueError(f"validation.weights_holdout must be in [0, 1), got {fraction}")
    if fraction == 0 or not ids:
        return []
    if len(ids) < 2:
        raise ValueError(
            "validation.weights_holdout needs at least 2 validation videos (one to choose the "
            f"models, one to choose the ensemble weights); the validation split has {len(ids)}"
        )
    k = min(max(1, round(fraction * len(ids))), len(ids) - 1)
    return sorted(sorted(ids, key=_key)[:k])


def split_rows(
    labels: pd.DataFrame, fraction: float, part: str, video_ids: Iterable[str] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """The validation label rows of ``part`` (``selection``: model selection, ``weights``:
    ensemble weights) and the held-out video IDs. With fraction 0 both parts are every row.

    The subset is drawn from ``video_ids`` (default: the videos in ``labels``); pass the label
    file's IDs when ``labels`` has already lost rows, so that training and the ensemble agree."""
    ids = labels["video_id"].unique() if video_ids is None else video_ids
    held = weights_holdout(ids, fraction)
    if not held:
        return labels, held
    mask = labels["video_id"].isin(held)
    if part == "weights":
        return labels[mask], held
    if part == "selection":
        return labels[~mask], held
    raise ValueError(f"part must be 'selection' or 'weights', got {part!r}")


def describe(fraction: float, held: list[str], n_val_videos: int) -> str:
    """One sentence for weights.json and the score report."""
    if not held:
        return (
            f"weights chosen on all {n_val_videos} validation videos, the same ones that chose "
            "the members (validation.weights_holdout: 0)"
        )
    return (
        f"weights chosen on {len(held)} held-out validation videos not used to choose the "
        f"members (validation.weights_holdout: {fraction:g}; members chosen on the other "
        f"{n_val_videos - len(held)})"
    )
