"""Training and evaluation data of one split: each video's label rows joined with its embedding
shards (``load_split``), the training set's feature statistics, and the two things done to the
training rows: the shuffled-label control and random row dropout (augmentation)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eevflow.shards import read_shards


@dataclass
class VideoSeq:
    video_id: str
    timestamps_us: np.ndarray  # (T,)
    features: np.ndarray  # (T, D) float32
    labels: np.ndarray | None = None  # (T, n_targets) float32
    detected: np.ndarray | None = None  # (T,) bool

    @property
    def seconds(self) -> np.ndarray:
        return (self.timestamps_us / 1e6).astype(np.float32)


@dataclass
class SplitData:
    videos: list[VideoSeq]
    skipped: dict[str, str] = field(default_factory=dict)  # video_id -> why
    # each extractor's block of the concatenated features, in order: (name, its columns)
    blocks: list[tuple[str, int]] = field(default_factory=list)


def load_split(
    labels: pd.DataFrame,
    shards: dict[str, list[str]],
    targets: list[str] | None,
) -> SplitData:
    """Join label rows with each extractor's embeddings (concatenated in the order given).

    A video is kept when every extractor has it with exactly the label file's timestamps; others
    are listed in ``skipped`` with the reason (e.g. excluded by download_check).
    """
    feats = {name: read_shards(paths) for name, paths in shards.items()}
    out = SplitData(videos=[])
    for vid, rows in labels.groupby("video_id", sort=False):
        ts = rows["timestamp_us"].to_numpy(np.int64)
        parts, why = [], None
        for name, table in feats.items():
            if vid not in table:
                why = f"no {name} embeddings"
                break
            f_ts, emb = table[vid]
            if not np.array_equal(f_ts, ts):
                why = f"{name} timestamps differ from the labels"
                break
            parts.append(emb)
        if why:
            out.skipped[vid] = why
            continue
        if not out.blocks:
            out.blocks = [(name, part.shape[1]) for name, part in zip(feats, parts)]
        seq = VideoSeq(vid, ts, np.concatenate(parts, axis=1).astype(np.float32))
        if targets is not None and all(t in rows for t in targets):
            seq.labels = rows[targets].to_numpy(np.float32)
            seq.detected = rows["detected"].to_numpy(bool)
        out.videos.append(seq)
    return out


def feature_stats(
    videos: list[VideoSeq], blocks: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The training set's per-column mean and std (1 where a column is constant). With
    ``blocks`` (the size of each extractor's block, in order) each block's std is multiplied by
    the square root of its size, so z-scoring gives every block total variance 1
    (``training.balance_extractors``)."""
    allf = np.concatenate([v.features for v in videos], axis=0).astype(np.float64)
    mean, std = allf.mean(axis=0), allf.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    if blocks is not None:
        if sum(blocks) != allf.shape[1] or min(blocks, default=1) < 1:
            raise ValueError(f"extractor blocks {blocks} do not add up to the "
                             f"{allf.shape[1]} feature columns")
        std = std * np.repeat(np.sqrt(np.asarray(blocks, np.float64)), blocks)
    return mean.astype(np.float32), std.astype(np.float32)


def shuffled_labels(videos: list[VideoSeq], seed: int) -> list[VideoSeq]:
    """Control data: the labelled rows of the whole training set permuted among themselves.

    Features, timestamps and the no-detection mask stay; each labelled row gets the scores of a
    random labelled row of any video. Permuting only within a video would keep a link between a
    video's features and its mean scores, which leaks a little signal into within-video
    correlations; permuting across the set leaves none.
    """
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([v.labels[v.detected] for v in videos])
    pooled = pooled[rng.permutation(len(pooled))]
    out, pos = [], 0
    for v in videos:
        labels = v.labels.copy()
        n = int(v.detected.sum())
        labels[v.detected] = pooled[pos : pos + n]
        pos += n
        out.append(VideoSeq(v.video_id, v.timestamps_us, v.features, labels, v.detected))
    return out


def dropped_rows(rows: np.ndarray, p: float, rng: np.random.Generator,
                 mode: str = "video") -> np.ndarray:
    """Row dropout (augmentation) over a video's training ``rows``. ``video`` (the published
    code's TimeDropout): one draw r ~ U(0, 1); when r <= p, int(r * len(rows)) rows chosen at
    random are left out. ``row``: each row is left out with probability p. At least one row stays
    (in ``row`` mode a random one when every row was dropped). The kept rows keep their order and
    timestamps, so the positional channel carries the gaps, as for undetected rows. ``p = 0``:
    ``rows`` as they are, with no draw."""
    if p <= 0 or len(rows) == 0:
        return rows
    if mode == "video":
        r = rng.random()
        if r > p:
            return rows
        drop = rng.choice(len(rows), size=min(int(r * len(rows)), len(rows) - 1), replace=False)
        keep = np.ones(len(rows), bool)
        keep[drop] = False
        return rows[keep]
    if mode != "row":
        raise ValueError(f"unknown row dropout mode {mode!r}; allowed values: ['video', 'row']")
    keep = rng.random(len(rows)) >= p
    if not keep.any():
        keep[rng.integers(len(rows))] = True
    return rows[keep]
