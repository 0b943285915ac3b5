"""The clip stream: every frame of a video on a fixed-rate grid, decoded once per video, and the
window of grid frames around each label row that a clip-level extractor (``input_stream ==
"clips"``, e.g. S3D MIL-NCE, eevflow.features.s3d_clip) embeds.

- **Grid**: times ``k / fps`` for ``k = 0, 1, ...`` while ``k / fps < duration`` (at least one);
  each grid time gets the frame on screen at it, by presentation timestamps
  (:func:`eevflow.decoding.decode_video` with the grid as its timestamps and no sound), scaled
  into ``frame_size`` x ``frame_size`` as ``decode:`` does (aspect kept, centred zero padding).
- **Window** of a row at time ``t``: ``frames`` consecutive grid frames starting at
  ``round(t * fps) - frames // 2`` (centred on the row), shifted to lie inside the grid at the
  video's ends; a video shorter than ``frames`` grid frames repeats its last frame
  (:func:`window_indices`). Rows whose windows overlap share the decoded frames.
- **Stride** ``k``: a clip is embedded for rows ``0, k, 2k, ...`` and each row between holds the
  embedding of the last computed row before it (:func:`stride_rows`, :func:`hold`), so the cost
  per row falls by ``k``.

A clip shard folder (``Layout.clips``) has the layout of a decoded shard (eevflow.decoded_shard:
``<video id>/meta.json``, ``frames.npy`` or ``frames.arrow``, and ``index.json`` written last,
which also records ``clip_fps``); its metadata's ``timestamps_us`` are the grid's.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from eevflow.decoded_shard import read_shard_index, video_files
from eevflow.decoding import DECODE_ERRORS, DecodeError, Decoded, DecodeInfo, decode_video
from eevflow.decoding import load_decoded, read_info
from eevflow.io import write_json
from eevflow.options import Options, option
from eevflow.progress import progress


@dataclass
class ClipSettings(Options):
    """The clip decode stream (the config's ``clips`` block; read only when an extractor's
    backend reads clips): every frame on a ``fps`` grid over the whole video."""

    fps: float = option(10.0, "grid rate in frames per second (S3D MIL-NCE was trained at 10)",
                        exclusiveMinimum=0, maximum=120)
    frame_size: int = option(224, "side of the square each grid frame is scaled (aspect kept) "
                             "and zero-padded to", minimum=16)
    store: Literal["compressed", "raw"] = option(
        "compressed", "how the grid frames are kept: compressed (one JPEG per frame, "
        "decode.jpeg_quality / jpeg_subsampling) or raw (.npy)")
    threads: int = option(2, "threads of a decode_clips job", minimum=1)


def grid_times_us(duration_s: float, fps: float) -> np.ndarray:
    """The grid's timestamps (int64 microseconds): ``k / fps`` below ``duration_s``, at least one."""
    if not duration_s > 0 or not math.isfinite(duration_s):
        n = 1
    else:
        n = max(1, math.ceil(duration_s * fps - 1e-9))
    return np.round(np.arange(n) * 1e6 / fps).astype(np.int64)


def window_indices(row_times_s: np.ndarray, n_grid: int, fps: float, frames: int) -> np.ndarray:
    """int64 (rows, frames): the grid frames of each row's window (module docstring)."""
    if n_grid < 1:
        raise ValueError("a clip grid needs at least one frame")
    if frames < 1:
        raise ValueError(f"a clip window needs at least one frame, not {frames}")
    t = np.asarray(row_times_s, np.float64).reshape(-1)
    offsets = np.arange(frames, dtype=np.int64)
    if n_grid < frames:  # shorter than one window: every grid frame, then the last repeated
        return np.broadcast_to(np.minimum(offsets, n_grid - 1), (len(t), frames)).copy()
    start = np.round(t * fps).astype(np.int64) - frames // 2
    start = np.clip(start, 0, n_grid - frames)
    return start[:, None] + offsets[None, :]


def stride_rows(n_rows: int, stride: int) -> np.ndarray:
    """The rows whose clip is embedded: ``0, stride, 2 * stride, ...``."""
    if stride < 1:
        raise ValueError(f"clip stride must be at least 1, not {stride}")
    return np.arange(0, n_rows, stride, dtype=np.int64)


def hold(computed: np.ndarray, n_rows: int, stride: int) -> np.ndarray:
    """Every row's embedding from those of :func:`stride_rows`: each row holds the last computed
    one at or before it."""
    computed = np.asarray(computed)
    if len(computed) != len(stride_rows(n_rows, stride)):
        raise ValueError(f"{len(computed)} clip embeddings for {n_rows} rows at stride {stride}")
    return computed[np.arange(n_rows) // stride]


@dataclass
class ClipVideo(Decoded):
    """A video as a clip extractor sees it: ``info`` and ``timestamps_us`` are its label rows (the
    decoded shard's), ``frames`` the grid frames and ``grid`` their decode metadata."""

    grid: DecodeInfo | None = None
    fps: float = 10.0

    def windows(self, frames: int, rows: np.ndarray | None = None) -> np.ndarray:
        """The grid frames of the windows of ``rows`` (default all), :func:`window_indices`."""
        t = self.timestamps_us / 1e6
        if rows is not None:
            t = t[rows]
        return window_indices(t, len(self.grid.timestamps_us), self.fps, frames)


def decode_clip_shard(
    shard_dir: str | os.PathLike,
    videos: Sequence[tuple[str, str | os.PathLike]],
    durations_s: Mapping[str, float],
    settings: ClipSettings,
    backend: str = "pyav",
    chunk_frames: int = 64,
    jpeg_quality: int = 90,
    jpeg_subsampling: str = "4:2:0",
    desc: str = "decode_clips",
) -> list[DecodeInfo]:
    """Decode each video's grid frames (``durations_s``: the probed durations) into a clip shard
    folder, one video at a time; ``index.json`` last. A video that fails raises
    :class:`DecodeError` naming it."""
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    fps, store = float(settings.fps), settings.store
    infos = []
    for video_id, path in progress(videos, desc=desc, unit="videos"):
        if video_id not in durations_s:
            raise DecodeError(f"{video_id}: no duration to lay a clip grid over")
        grid = grid_times_us(float(durations_s[video_id]), fps)
        files = video_files(shard_dir, video_id, store)
        try:
            infos.append(decode_video(
                video_id, path, grid, files["frames"], None, files["meta"],
                frame_size=settings.frame_size, chunk_frames=chunk_frames, backend=backend,
                threads=settings.threads, store=store, jpeg_quality=jpeg_quality,
                jpeg_subsampling=jpeg_subsampling, decode_audio=False))
        except DECODE_ERRORS as exc:
            raise DecodeError(f"{video_id} ({path}): clip decode failed: {exc}") from exc
    sources = dict(videos)
    write_json({
        "videos": [{"video_id": i.video_id, "rows": len(i.timestamps_us), "n_samples": 0,
                    "audio_source": "none", "decoder": i.decoder,
                    "source": str(sources[i.video_id])} for i in infos],
        "store": store, "frame_size": settings.frame_size, "sample_rate": 0,
        "frame_sampling": "label_time", "audio_path": "ffmpeg", "backend": backend,
        "chunk_frames": chunk_frames, "clip_fps": fps,
        **({"jpeg_quality": int(jpeg_quality), "jpeg_subsampling": jpeg_subsampling}
           if store == "compressed" else {}),
    }, shard_dir / "index.json")
    return infos


def clip_settings(clips_dir: str | os.PathLike) -> dict:
    """How a finished clip shard was decoded (what an extract job records beside its options)."""
    index = read_shard_index(clips_dir)
    keep = ("clip_fps", "frame_size", "store", "backend", "jpeg_quality", "jpeg_subsampling")
    return {k: index[k] for k in keep if k in index}


def iter_clip_videos(decoded_dir: str | os.PathLike, clips_dir: str | os.PathLike,
                     ) -> Iterator[ClipVideo]:
    """The shard's videos, in the decoded shard's order: each with its label rows (the decoded
    shard's metadata; its frames are not read) and its grid frames (the clip shard's)."""
    decoded, clips = read_shard_index(decoded_dir), read_shard_index(clips_dir)
    if "clip_fps" not in clips:
        raise ValueError(f"{clips_dir} is not a clip shard (its index.json has no clip_fps)")
    grid_ids = [row["video_id"] for row in clips["videos"]]
    label_ids = [row["video_id"] for row in decoded["videos"]]
    if sorted(grid_ids) != sorted(label_ids):
        missing = sorted(set(label_ids) ^ set(grid_ids))
        raise ValueError(f"{clips_dir} and {decoded_dir} hold different videos ({missing[:5]}): "
                         "decode the clip shard again")
    for video_id in label_ids:
        info = read_info(video_files(decoded_dir, video_id, decoded["store"])["meta"])
        f = video_files(clips_dir, video_id, clips["store"])
        grid = load_decoded(str(f["meta"]), str(f["frames"]), None)
        yield ClipVideo(info=info, frames=grid.frames, audio=None, grid=grid.info,
                        fps=float(clips["clip_fps"]))
