"""Embedding shards: one Parquet file per (extractor, split, shard).

Columns: ``video_id`` (string), ``timestamp_us`` (int64), ``embedding`` (fixed-size list of float32).
One row group per video, so a reader takes one video without scanning the shard; the file's
key-value metadata names the extractor, its modality, dimension and version.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from eevflow.io import atomic_path

META_PREFIX = "eevflow."


def shard_of(video_id: str, n_shards: int) -> int:
    """Stable shard of a video: independent of list order, so adding videos moves no others."""
    digest = hashlib.sha1(video_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def schema(dim: int, metadata: dict[str, str] | None = None) -> pa.Schema:
    fields = [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("timestamp_us", pa.int64(), nullable=False),
        pa.field("embedding", pa.list_(pa.float32(), dim), nullable=False),
    ]
    meta = {f"{META_PREFIX}{k}": str(v) for k, v in (metadata or {}).items()}
    return pa.schema(fields, metadata=meta)


def video_table(video_id: str, timestamps_us: np.ndarray, embedding: np.ndarray, sch: pa.Schema):
    emb = np.ascontiguousarray(embedding, dtype=np.float32)
    dim = sch.field("embedding").type.list_size
    if emb.ndim != 2 or emb.shape[1] != dim or emb.shape[0] != len(timestamps_us):
        raise ValueError(
            f"{video_id}: embedding shape {emb.shape} does not match "
            f"({len(timestamps_us)}, {dim})"
        )
    values = pa.array(emb.reshape(-1), type=pa.float32())
    return pa.table(
        [
            pa.array([video_id] * len(timestamps_us), pa.string()),
            pa.array(np.asarray(timestamps_us, dtype=np.int64)),
            pa.FixedSizeListArray.from_arrays(values, dim),
        ],
        schema=sch,
    )


def write_shard(
    path: str | os.PathLike,
    videos: Iterable[tuple[str, np.ndarray, np.ndarray]],
    dim: int,
    metadata: dict[str, str],
) -> int:
    """Write ``(video_id, timestamps_us, embedding)`` items, one row group each; returns the count.

    The file appears only when complete (written to a temporary name, then renamed). A shard with
    no videos is a valid, empty file with the same schema and metadata.
    """
    sch = schema(dim, metadata)
    n = 0
    with atomic_path(path) as tmp:
        with pq.ParquetWriter(tmp, sch, compression="zstd") as writer:
            for video_id, ts, emb in videos:
                writer.write_table(video_table(video_id, ts, emb, sch))
                n += 1
    return n


def shard_metadata(path: str | os.PathLike) -> dict[str, str]:
    meta = pq.read_schema(path).metadata or {}
    return {
        k.decode()[len(META_PREFIX) :]: v.decode()
        for k, v in meta.items()
        if k.decode().startswith(META_PREFIX)
    }


def video_rows(paths: Iterable[str | os.PathLike]) -> tuple[int, int] | None:
    """(rows of the longest video, rows in all) of shards, from their Parquet footers alone (one
    row group per video); None when a shard does not exist yet (a job's resources are asked for
    before its inputs are made)."""
    longest = total = 0
    for path in paths:
        if not os.path.exists(path):
            return None
        meta = pq.ParquetFile(path).metadata
        for rg in range(meta.num_row_groups):
            rows = meta.row_group(rg).num_rows
            longest, total = max(longest, rows), total + rows
    return longest, total


def _to_numpy(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    col = table.column("embedding").combine_chunks()
    dim = col.type.list_size
    emb = col.values.to_numpy(zero_copy_only=False).reshape(-1, dim)
    return table.column("timestamp_us").to_numpy(), emb


def iter_videos(path: str | os.PathLike) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Yield ``(video_id, timestamps_us, embedding)`` per video, one row group at a time."""
    pf = pq.ParquetFile(path)
    for i in range(pf.num_row_groups):
        table = pf.read_row_group(i)
        if table.num_rows == 0:
            continue
        ts, emb = _to_numpy(table)
        yield table.column("video_id")[0].as_py(), ts, emb


def read_shards(paths: Iterable[str | os.PathLike]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """All videos of several shards: ``{video_id: (timestamps_us, embedding)}``."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for path in paths:
        for vid, ts, emb in iter_videos(path):
            if vid in out:
                raise ValueError(f"video {vid} appears in more than one shard ({path})")
            out[vid] = (ts, emb)
    return out
