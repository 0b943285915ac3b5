"""A split streamed from its files: ``open_split`` indexes the label Parquet and each extractor's
embedding shards from their small columns (video IDs, timestamps) and ``ShardVideos`` reads one
video's label rows and embeddings when it is asked for, so train and predict hold one video at a
time whatever the size of the split (eevflow.sequences: the in-memory ``load_split``, the same
videos in the same order with the same skips)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from eevflow.sequences import SplitData, VideoSeq
from eevflow.shards import shard_metadata

log = logging.getLogger(__name__)


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


def shard_modality(paths: list[str]) -> str:
    """The modality an extractor's shards record (``visual`` / ``audio``; ``unknown`` when the
    metadata has none)."""
    return shard_metadata(paths[0]).get("modality", "unknown")
