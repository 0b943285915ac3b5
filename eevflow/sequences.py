"""Training and evaluation data of one split: each video's label rows joined with its embedding
shards, the training set's feature statistics, and the two things done to the training rows: the
shuffled-label control and random row dropout (augmentation).

Two ways to join: ``open_split`` (what the workflow uses) indexes the label file and the shards
from their small columns and reads each video's rows when it is asked for (``ShardVideos``, a
lazy sequence of ``VideoSeq``), so a job holds one video's features at a time whatever the size
of the split (EEV's test split at 2,048 dims is about 24 GB of features); ``load_split`` joins an
in-memory label frame with every shard read whole (small data, tests). Both keep the same videos
in the same order, give the same rows and report the same skips.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

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
    """(labels, detected) of each video; a streamed split reads them without the features."""
    if isinstance(videos, ShardVideos):
        return (videos.labels_at(i) for i in range(len(videos)))
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


# ---------------------------------------------------------------------------- streamed splits


def return_large_buffers(threshold: int = 1 << 20) -> bool:
    """Serve every allocation of ``threshold`` bytes or more with its own mapping (glibc's
    ``M_MMAP_THRESHOLD``), which goes back to the OS when freed. A streamed job allocates and
    frees buffers of a video's size (features, tensors, activations), a different size for each
    video; glibc's default threshold rises to 32 MB after the first such free, and those
    buffers then come from the heap, which fragments and grows with the number of videos seen
    (200 videos of one epoch: 805 MB peak RSS by default, 578 MB with this;
    BENCHMARKS.md). Called by the job entry points; False where it does not apply (not glibc)."""
    import ctypes

    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-3, int(threshold)))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        return False



@dataclass(frozen=True)
class _Entry:
    """Where one kept video's rows are: its label segments (row group, first row, end row) and
    each extractor's (shard number, row group)."""

    video_id: str
    label_segments: tuple[tuple[int, int, int], ...]
    shard_rows: tuple[tuple[int, int], ...]
    n_rows: int


def _digest(ts: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(ts, np.int64).tobytes(), digest_size=16).digest()


class ShardVideos(Sequence):
    """The kept videos of one split as a lazy sequence: ``videos[i]`` reads video ``i``'s label
    rows and each extractor's row group from the Parquet files and joins them into a
    ``VideoSeq`` (the same arrays ``load_split`` builds); nothing of a video stays once the caller
    drops it. Built by :func:`open_split`, which decides which videos are kept."""

    def __init__(self, labels_path, shard_paths: dict[str, list[str]], targets: list[str] | None,
                 entries: list[_Entry], past_end: tuple[Mapping[str, float], float] | None):
        self.labels_path = str(labels_path)
        self.names = list(shard_paths)
        self.paths = [str(p) for paths in shard_paths.values() for p in paths]
        self.targets = list(targets) if targets is not None else None
        self.entries = entries
        self.past_end = past_end
        self._files: dict[str, pq.ParquetFile] = {}
        self._cached: tuple | None = None  # the last label row group read (key, table)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def longest(self) -> int:
        """Rows of the longest kept video (what a job's memory follows)."""
        return max((e.n_rows for e in self.entries), default=0)

    @property
    def n_rows(self) -> int:
        return sum(e.n_rows for e in self.entries)

    def _file(self, path: str) -> pq.ParquetFile:
        if path not in self._files:
            self._files[path] = pq.ParquetFile(path)
        return self._files[path]

    def _label_rows(self, e: _Entry, columns: list[str]) -> dict[str, np.ndarray]:
        pf = self._file(self.labels_path)
        parts: dict[str, list[np.ndarray]] = {c: [] for c in columns}
        for rg, a, b in e.label_segments:
            key = (rg, tuple(columns))
            if self._cached is None or self._cached[0] != key:
                self._cached = (key, pf.read_row_group(rg, columns=columns))
            table = self._cached[1].slice(a, b - a)
            for c in columns:
                parts[c].append(table.column(c).to_numpy())
        if len(e.label_segments) == 1 and self._cached is not None:
            # one row group per video (the labels rule's layout): nothing worth caching
            self._cached = None
        return {c: np.concatenate(v) if len(v) > 1 else v[0] for c, v in parts.items()}

    def _labels(self, e: _Entry, rows: dict[str, np.ndarray]):
        if self.targets is None:
            return None, None
        labels = np.column_stack([rows[t].astype(np.float32, copy=False) for t in self.targets])
        detected = rows["detected"].astype(bool)
        if self.past_end is not None:
            durations, tolerance = self.past_end
            limit = float(durations.get(e.video_id, np.nan)) + tolerance
            with np.errstate(invalid="ignore"):
                detected = detected & ~(rows["timestamp_us"] / 1e6 > limit)  # nan limit: kept
        return labels, detected

    def _label_columns(self) -> list[str]:
        return ["timestamp_us"] + ([*self.targets, "detected"] if self.targets is not None else [])

    def labels_at(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Video ``i``'s (labels, detected), without reading its features."""
        e = self.entries[i]
        return self._labels(e, self._label_rows(e, self._label_columns()))

    def __getitem__(self, i: int) -> VideoSeq:
        if not isinstance(i, (int, np.integer)):
            raise TypeError(f"ShardVideos takes one integer index, not {type(i).__name__}")
        e = self.entries[i]
        rows = self._label_rows(e, self._label_columns())
        parts = []
        for shard, rg in e.shard_rows:
            col = self._file(self.paths[shard]).read_row_group(rg, columns=["embedding"])
            col = col.column("embedding").combine_chunks()
            parts.append(col.values.to_numpy(zero_copy_only=False).reshape(-1, col.type.list_size))
        seq = VideoSeq(e.video_id, rows["timestamp_us"].astype(np.int64, copy=False),
                       np.concatenate(parts, axis=1).astype(np.float32, copy=False))
        seq.labels, seq.detected = self._labels(e, rows)
        return seq


def label_video_ids(labels_path) -> list[str]:
    """The label file's video IDs in order of first appearance, read one row group at a time
    (only the ``video_id`` column)."""
    pf = pq.ParquetFile(labels_path)
    seen: dict[str, None] = {}
    for rg in range(pf.num_row_groups):
        ids = pf.read_row_group(rg, columns=["video_id"]).column("video_id")
        for vid in pd.unique(ids.to_numpy()):
            seen.setdefault(vid, None)
    return list(seen)


def _shard_index(shards: dict[str, list[str]]):
    """Per extractor: video -> (shard number, row group, rows, digest of its timestamps), from
    the ``video_id`` and ``timestamp_us`` columns only; checks one video per row group and each
    video in one shard."""
    out, n = {}, 0
    for name, paths in shards.items():
        index: dict[str, tuple[int, int, int, bytes]] = {}
        for path in paths:
            pf = pq.ParquetFile(path)
            for rg in range(pf.num_row_groups):
                if pf.metadata.row_group(rg).num_rows == 0:
                    continue
                t = pf.read_row_group(rg, columns=["video_id", "timestamp_us"])
                ids = t.column("video_id")
                vid = ids[0].as_py()
                if len(pd.unique(ids.to_numpy())) != 1:
                    raise ValueError(f"{path}: row group {rg} holds more than one video "
                                     "(embedding shards have one row group per video)")
                if vid in index:
                    raise ValueError(f"video {vid} appears in more than one shard ({path})")
                ts = t.column("timestamp_us").to_numpy()
                index[vid] = (n, rg, len(ts), _digest(ts))
            n += 1
        out[name] = index
    return out


def open_split(
    labels_path,
    shards: dict[str, list[str]],
    targets: list[str] | None,
    exclude: Iterable[str] = (),
    past_end: tuple[Mapping[str, float], float] | None = None,
) -> SplitData:
    """``load_split`` for a split too large to hold: the label file (Parquet; best one row group
    per video, as the labels rule writes it) and the shards are indexed from their small columns
    and the videos come back as a lazy :class:`ShardVideos`. Keeps and skips the same videos as
    ``load_split``, in the same order (the label file's), with the same reasons. ``exclude``:
    videos left out altogether (validation.weights_holdout); ``past_end``: (video -> duration in
    seconds, tolerance) of ``probe.labels_past_end: drop``, whose rows past the end become
    undetected as ``drop_past_end(..., "unlabel")`` makes them."""
    exclude = set(exclude)
    index = _shard_index(shards)
    pf = pq.ParquetFile(labels_path)
    names = pf.schema_arrow.names
    want = targets if targets is not None and all(t in names for t in targets) else None
    # the label file's videos, in order: their segments, row counts and timestamps' digest
    found: dict[str, list] = {}
    hashers: dict[str, object] = {}
    past = 0
    for rg in range(pf.num_row_groups):
        t = pf.read_row_group(rg, columns=["video_id", "timestamp_us"])
        ids, ts = t.column("video_id").to_numpy(zero_copy_only=False), t.column(
            "timestamp_us").to_numpy()
        if len(ids) == 0:
            continue
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        for a, b in zip(starts, np.r_[starts[1:], len(ids)]):
            vid = ids[a]
            if vid in exclude:
                continue
            seg = found.setdefault(vid, [[], 0])
            seg[0].append((rg, int(a), int(b)))
            seg[1] += int(b - a)
            hashers.setdefault(vid, hashlib.blake2b(digest_size=16)).update(
                np.ascontiguousarray(ts[a:b], np.int64).tobytes())
            if past_end is not None:
                limit = float(past_end[0].get(vid, np.nan)) + past_end[1]
                with np.errstate(invalid="ignore"):
                    past += int((ts[a:b] / 1e6 > limit).sum())
    if past_end is not None:
        log.info("labels_past_end drop: %d of %d label rows after their video's end (unlabel)",
                 past, sum(s[1] for s in found.values()))
    entries, skipped, blocks = [], {}, []
    for vid, (segments, n_rows) in found.items():
        digest, where, why = hashers[vid].digest(), [], None
        for name, idx in index.items():
            if vid not in idx:
                why = f"no {name} embeddings"
                break
            shard, rg, rows, d = idx[vid]
            if rows != n_rows or d != digest:
                why = f"{name} timestamps differ from the labels"
                break
            where.append((shard, rg))
        if why:
            skipped[vid] = why
            continue
        entries.append(_Entry(vid, tuple(segments), tuple(where), n_rows))
    if entries:
        blocks = [(name, _shard_dim(paths)) for name, paths in shards.items()]
    videos = ShardVideos(labels_path, shards, want, entries, past_end)
    return SplitData(videos=videos, skipped=skipped, blocks=blocks)


def _shard_dim(paths: list[str]) -> int:
    return pq.read_schema(paths[0]).field("embedding").type.list_size
