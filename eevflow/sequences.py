"""Training and evaluation data of one split: each video's label rows joined with its embedding
shards, the training set's feature statistics, and the two things done to the training rows: the
shuffled-label control and random row dropout (augmentation).

Two ways to join: ``eevflow.split_stream.open_split`` (what the workflow uses) indexes the label file and the shards
from their small columns and reads each video's rows when it is asked for (``ShardVideos``, a
lazy sequence of ``VideoSeq``), so a job holds one video's features at a time whatever the size
of the split (EEV's test split at 2,048 dims is about 24 GB of features); ``load_split`` joins an
in-memory label frame with every shard read whole (small data, tests). Both keep the same videos
in the same order, give the same rows and report the same skips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eevflow.shards import read_shards

log = logging.getLogger(__name__)


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
    videos: Sequence[VideoSeq]  # a list (load_split) or a lazy ShardVideos (open_split)
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
    videos: Sequence[VideoSeq], blocks: list[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The training set's per-column mean and (population) std, 1 where a column is constant.
    With ``blocks`` (the size of each extractor's block, in order) each block's std is multiplied
    by the square root of its size, so z-scoring gives every block total variance 1
    (``training.balance_extractors``).

    One pass, one video at a time: each video's float64 mean and centred sum of squares,
    combined with the running ones by Chan et al.'s pairwise update (stable: no sum of squares of
    uncentred values), so memory is one video's features. The float64 results agree with the
    mean and std of all rows concatenated to ~1e-15 relative (tests/test_streaming.py), far
    below the float32 they are returned in."""
    n, mean, m2, dim = 0, None, None, None
    for v in videos:
        x = np.array(v.features, dtype=np.float64)  # a copy: centred below
        k = x.shape[0]
        if k == 0:
            continue
        mean_v = x.mean(axis=0)
        x -= mean_v  # centred in place: one float64 copy of the video
        m2_v = np.square(x, out=x).sum(axis=0)
        if mean is None:
            n, mean, m2, dim = k, mean_v, m2_v, x.shape[1]
            continue
        total = n + k
        delta = mean_v - mean
        mean = mean + delta * (k / total)
        m2 = m2 + m2_v + np.square(delta) * (n * k / total)
        n = total
    if mean is None:
        raise ValueError("no feature rows to compute the standardisation statistics from")
    std = np.sqrt(m2 / n)
    std = np.where(std > 1e-6, std, 1.0)
    if blocks is not None:
        if sum(blocks) != dim or min(blocks, default=1) < 1:
            raise ValueError(f"extractor blocks {blocks} do not add up to the "
                             f"{dim} feature columns")
        std = std * np.repeat(np.sqrt(np.asarray(blocks, np.float64)), blocks)
    return mean.astype(np.float32), std.astype(np.float32)


class ShuffledLabels(Sequence):
    """A training set whose labelled rows got the scores of :func:`shuffled_labels`' permutation:
    the base set's videos (read as they are asked for), each with its share of the permuted
    scores. The permuted scores of the whole set are held (n_detected_rows x n_targets float32,
    144 MB for EEV's 1,600 training videos): the control pools labels across every video, so
    it cannot stream them; the features still stream."""

    def __init__(self, base: Sequence[VideoSeq], labels: list[np.ndarray]):
        self.base, self.labels = base, labels

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> VideoSeq:
        v = self.base[i]
        return VideoSeq(v.video_id, v.timestamps_us, v.features, self.labels[i], v.detected)


def _labels_of(videos: Sequence[VideoSeq]) -> Iterable[tuple[np.ndarray, np.ndarray]]:
    """(labels, detected) of each video; a streamed split (eevflow.split_stream.ShardVideos)
    reads them without the features."""
    labels_at = getattr(videos, "labels_at", None)
    if labels_at is not None:
        return (labels_at(i) for i in range(len(videos)))
    return ((v.labels, v.detected) for v in videos)


def shuffled_labels(videos: Sequence[VideoSeq], seed: int) -> ShuffledLabels:
    """Control data: the labelled rows of the whole training set permuted among themselves.

    Features, timestamps and the no-detection mask stay; each labelled row gets the scores of a
    random labelled row of any video. Permuting only within a video would keep a link between a
    video's features and its mean scores, which leaks a little signal into within-video
    correlations; permuting across the set leaves none.
    """
    rng = np.random.default_rng(seed)
    own = list(_labels_of(videos))
    pooled = np.concatenate([labels[detected] for labels, detected in own])
    pooled = pooled[rng.permutation(len(pooled))]
    out, pos = [], 0
    for labels, detected in own:
        labels = labels.copy()
        n = int(detected.sum())
        labels[detected] = pooled[pos : pos + n]
        pos += n
        out.append(labels)
    return ShuffledLabels(videos, out)


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
