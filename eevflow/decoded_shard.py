"""Decoded media of one (split, shard): the decode job's output, read by every extractor.

Per-video decode jobs flood a cluster scheduler (EEV: 5,153 jobs of under a minute each) and make
Snakemake's planning slow (each job after the download-check checkpoint is re-examined), so the
workflow decodes the videos of a shard together, the same shard the embedding Parquet files use
(``eevflow.shards.shard_of``). Layout of a shard folder::

    <shard dir>/<video id>/frames.npy   (rows, S, S, 3) uint8
    <shard dir>/<video id>/audio.npy    (samples,) float32
    <shard dir>/<video id>/meta.json    eevflow.decoding.DecodeInfo
    <shard dir>/index.json              the videos in order, written last

``index.json`` is written only after every video is decoded, so a folder without it is not a
finished shard (and the workflow's ``directory()`` output is removed by Snakemake if the job
fails).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from eevflow.ids import InvalidVideoId, validate_local_id
from eevflow.io import write_json
from eevflow.decoding import (
    DECODE_ERRORS,
    DecodeError,
    Decoded,
    DecodeInfo,
    decode_video,
    load_decoded,
)

INDEX = "index.json"
FILES = {"frames": "frames.npy", "audio": "audio.npy", "meta": "meta.json"}

log = logging.getLogger(__name__)


def video_files(shard_dir: str | os.PathLike, video_id: str) -> dict[str, Path]:
    """Paths of one video's decoded files inside a shard folder."""
    try:
        validate_local_id(video_id)
    except InvalidVideoId as exc:
        raise ValueError(f"not a video ID that can name a folder: {video_id!r}") from exc
    base = Path(shard_dir) / video_id
    return {kind: base / name for kind, name in FILES.items()}


def decode_shard(
    shard_dir: str | os.PathLike,
    videos: Sequence[tuple[str, str | os.PathLike]],
    timestamps_us: Mapping[str, np.ndarray],
    frame_size: int = 224,
    sample_rate: int = 16000,
    chunk_frames: int = 64,
    backend: str = "pyav",
    threads: int = 1,
    frame_sampling: str = "label_time",
    audio_path: str = "ffmpeg",
) -> list[DecodeInfo]:
    """Decode ``videos`` ((video ID, file) pairs, in order) at their label ``timestamps_us``
    (``frame_sampling``: which frame each row gets, eevflow.frame_sampling; ``audio_path``: how
    the sound is decoded, eevflow.audio_path).

    One video at a time, so memory is that of the longest video, not of the shard. A video that
    fails raises :class:`DecodeError` naming it (the download-check probe passed it, so this is
    not an expected skip).
    """
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    ids = [v for v, _ in videos]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{shard_dir}: a video is listed twice")
    infos = []
    for video_id, path in videos:
        if video_id not in timestamps_us:
            raise DecodeError(f"{video_id}: no label rows to decode at")
        files = video_files(shard_dir, video_id)
        try:
            info = decode_video(
                video_id, path, timestamps_us[video_id], files["frames"], files["audio"],
                files["meta"], frame_size=frame_size, sample_rate=sample_rate,
                chunk_frames=chunk_frames, backend=backend, threads=threads,
                frame_sampling=frame_sampling, audio_path=audio_path,
            )
        except DECODE_ERRORS as exc:
            raise DecodeError(f"{video_id} ({path}): decode failed: {exc}") from exc
        log.info(
            "%s: %d rows from %d frames at %.3f fps (%dx%d, %s), %d audio samples (%s, %d padded)",
            video_id, len(info.timestamps_us), info.n_frames, info.fps, info.width,
            info.height, info.decoder, info.n_samples, info.audio_source,
            info.audio_padded_samples,
        )
        infos.append(info)
    index = {
        "videos": [
            {"video_id": i.video_id, "rows": len(i.timestamps_us),
             "audio_source": i.audio_source, "decoder": i.decoder}
            for i in infos
        ],
        "frame_size": frame_size,
        "sample_rate": sample_rate,
        "frame_sampling": frame_sampling,
        "audio_path": audio_path,
    }
    write_json(index, shard_dir / INDEX)
    return infos


def read_index(shard_dir: str | os.PathLike) -> list[str]:
    """The video IDs of a finished shard folder, in order."""
    path = Path(shard_dir) / INDEX
    if not path.exists():
        raise FileNotFoundError(
            f"{shard_dir} has no {INDEX}: its decode job did not finish"
        )
    return [row["video_id"] for row in json.loads(path.read_text())["videos"]]


def iter_shard(shard_dir: str | os.PathLike, modality: str) -> Iterator[Decoded]:
    """The shard's videos as extractors see them: frames (memory-mapped) or audio."""
    if modality not in ("visual", "audio"):
        raise ValueError(f"modality must be visual or audio, not {modality!r}")
    for video_id in read_index(shard_dir):
        f = video_files(shard_dir, video_id)
        if modality == "visual":
            yield load_decoded(str(f["meta"]), str(f["frames"]), None)
        else:
            yield load_decoded(str(f["meta"]), None, str(f["audio"]))


def media_bytes(shard_dir: str | os.PathLike, modality: str) -> int | None:
    """Bytes of the shard's frames or audio (None before its decode job has run)."""
    try:
        ids = read_index(shard_dir)
    except FileNotFoundError:
        return None
    kind = "frames" if modality == "visual" else "audio"
    return sum(os.path.getsize(video_files(shard_dir, v)[kind]) for v in ids)
