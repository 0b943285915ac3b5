"""Label rows after a video's end (``probe.labels_past_end``): counting them, and the ``drop``
policy that leaves them out of the loss and the scores (README: "Messy data")."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

def rows_past_end(timestamps_us: np.ndarray, duration_s: float, tolerance_s: float) -> int:
    """Label rows more than ``tolerance_s`` after the end of the last frame."""
    if not np.isfinite(duration_s):
        return 0
    return int((np.asarray(timestamps_us) / 1e6 > duration_s + tolerance_s).sum())


def past_end_mask(
    labels: pd.DataFrame, manifest: pd.DataFrame, tolerance_s: float
) -> np.ndarray:
    """True for the label rows (``video_id``, ``timestamp_us``) more than ``tolerance_s`` after
    their video's end (the manifest's ``duration_s``; videos without one have none)."""
    end = manifest.set_index("video_id")["duration_s"].astype(float)
    limit = labels["video_id"].map(end).to_numpy(np.float64) + tolerance_s
    with np.errstate(invalid="ignore"):
        return labels["timestamp_us"].to_numpy() / 1e6 > limit  # nan limit: False


def drop_past_end(
    labels: pd.DataFrame, manifests: list[str], past_end: Mapping[str, Any], how: str
) -> pd.DataFrame:
    """Apply ``probe.labels_past_end: drop`` to label rows: ``how="unlabel"`` marks the rows
    after their video's end as undetected (no label: left out of the loss, still predicted),
    ``how="remove"`` removes them (not scored). Other policies return ``labels`` unchanged."""
    if past_end["policy"] != "drop" or not manifests:
        return labels
    manifest = pd.concat([pd.read_parquet(p, columns=["video_id", "duration_s"])
                          for p in manifests])
    mask = past_end_mask(labels, manifest, past_end["tolerance_s"])
    log.info("labels_past_end drop: %d of %d label rows after their video's end (%s)",
             int(mask.sum()), len(labels), how)
    if how == "remove":
        return labels[~mask].reset_index(drop=True)
    if how != "unlabel":
        raise ValueError(f"how must be unlabel or remove, not {how!r}")
    labels = labels.copy()
    labels.loc[mask, "detected"] = False
    return labels
