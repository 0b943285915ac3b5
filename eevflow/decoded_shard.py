"""Decoded media of one (split, shard): the decode job's output, read by every extractor.

Per-video decode jobs flood a cluster scheduler (EEV: 5,153 jobs of under a minute each) and make
Snakemake's planning slow (each job after the download-check checkpoint is re-examined), so the
workflow decodes the videos of a shard together, the same shard the embedding Parquet files use
(``eevflow.shards.shard_of``). Layout of a shard folder (``decode.store``, eevflow.media_store)::

    <shard dir>/<video id>/meta.json     eevflow.decoding.DecodeInfo (every store)
    <shard dir>/<video id>/frames.npy    raw: (rows, S, S, 3) uint8
    <shard dir>/<video id>/audio.npy     raw: (samples,) float32
    <shard dir>/<video id>/frames.arrow  compressed: one JPEG per row (Arrow IPC file)
    <shard dir>/<video id>/audio.flac    compressed: 16-bit FLAC
    <shard dir>/index.json               the videos in order (rows, source file), the store and
                                         the decode settings, written last

``index.json`` is written only after every video is decoded, so a folder without it is not a
finished shard (and the workflow's ``directory()`` output is removed by Snakemake if the job
fails). Readers take the store from it, so a shard reads as it was written whatever the config
says now; the extract job refuses a shard whose store is not the config's (its decode job's
params hold the decode settings, so a changed ``decode.store`` decodes the shard again first).
With ``none`` the extract job decodes its modality again from the source file the index names,
into memory (sound) or a temporary folder it removes (frames, memory-mapped).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
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
    read_info,
)
from eevflow.audio_path import audio_decoder
from eevflow.media_store import FILES as STORE_FILES
from eevflow.media_store import STORES, StoredMediaError, check_store
from eevflow.progress import progress

INDEX = "index.json"
META = "meta.json"

log = logging.getLogger(__name__)


def video_files(shard_dir: str | os.PathLike, video_id: str, store: str = "raw") -> dict[str, Path]:
    """Paths of one video's decoded files inside a shard folder: ``meta`` and, but for store
    ``none``, ``frames`` and ``audio``."""
    check_store(store)
    try:
        validate_local_id(video_id)
    except InvalidVideoId as exc:
        raise ValueError(f"not a video ID that can name a folder: {video_id!r}") from exc
    base = Path(shard_dir) / video_id
    return {"meta": base / META, **{k: base / n for k, n in STORE_FILES[store].items()}}


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
    store: str = "raw",
    jpeg_quality: int = 90,
    jpeg_subsampling: str = "4:2:0",
    desc: str = "decode",
) -> list[DecodeInfo]:
    """Decode ``videos`` ((video ID, file) pairs, in order) at their label ``timestamps_us``
    (``frame_sampling``: which frame each row gets, eevflow.frame_sampling; ``audio_path``: how
    the sound is decoded, eevflow.audio_path; ``store``: how frames and sound are kept,
    eevflow.media_store).

    One video at a time, so memory is that of the longest video, not of the shard. A video that
    fails raises :class:`DecodeError` naming it (the download-check probe passed it, so this is
    not an expected skip). ``desc``: what the progress lines (eevflow.progress) call the job.
    """
    check_store(store)
    shard_dir = Path(shard_dir)
    shard_dir.mkdir(parents=True, exist_ok=True)
    ids = [v for v, _ in videos]
    if len(set(ids)) != len(ids):
        raise ValueError(f"{shard_dir}: a video is listed twice")
    infos, rows = [], 0
    total_rows = sum(len(timestamps_us.get(v, ())) for v in ids)
    bar = progress(videos, desc=desc, unit="videos")
    for video_id, path in bar:
        if video_id not in timestamps_us:
            raise DecodeError(f"{video_id}: no label rows to decode at")
        files = video_files(shard_dir, video_id, store)
        try:
            info = decode_video(
                video_id, path, timestamps_us[video_id], files.get("frames"), files.get("audio"),
                files["meta"], frame_size=frame_size, sample_rate=sample_rate,
                chunk_frames=chunk_frames, backend=backend, threads=threads,
                frame_sampling=frame_sampling, audio_path=audio_path, store=store,
                jpeg_quality=jpeg_quality, jpeg_subsampling=jpeg_subsampling,
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
        rows += len(info.timestamps_us)
        bar.set_postfix_str(f"rows={rows}/{total_rows}")
    sources = dict(videos)
    index = {
        "videos": [
            {"video_id": i.video_id, "rows": len(i.timestamps_us), "n_samples": i.n_samples,
             "audio_source": i.audio_source, "decoder": i.decoder,
             "source": str(sources[i.video_id])}
            for i in infos
        ],
        "store": store,
        "frame_size": frame_size,
        "sample_rate": sample_rate,
        "frame_sampling": frame_sampling,
        "audio_path": audio_path,
        "backend": backend,
        "chunk_frames": chunk_frames,
        **({"jpeg_quality": int(jpeg_quality), "jpeg_subsampling": jpeg_subsampling}
           if store == "compressed" else {}),
    }
    write_json(index, shard_dir / INDEX)
    return infos


def decode_audio_track(path: str | os.PathLike, info: DecodeInfo) -> np.ndarray:
    """The sound of ``path`` decoded again as ``decode_video`` decoded it for ``info`` (its
    origin, rate and audio path), padded to its ``n_samples``: for a shard whose store kept no
    media."""
    if info.audio_source == "silence":
        return np.zeros(info.n_samples, np.float32)
    audio, _ = audio_decoder(info.audio_path)(str(path), info.sample_rate, info.start_time_s)
    if len(audio) > info.n_samples:
        raise DecodeError(f"{info.video_id} ({path}): {len(audio)} audio samples decode, its "
                          f"decode metadata says {info.n_samples}: the file changed since")
    return np.concatenate([audio, np.zeros(info.n_samples - len(audio), np.float32)])


def read_shard_index(shard_dir: str | os.PathLike) -> dict:
    """The index of a finished shard folder (a shard written before stores existed is ``raw``)."""
    path = Path(shard_dir) / INDEX
    if not path.exists():
        raise FileNotFoundError(
            f"{shard_dir} has no {INDEX}: its decode job did not finish"
        )
    index = json.loads(path.read_text())
    index.setdefault("store", "raw")
    if index["store"] not in STORES:
        raise ValueError(f"{path}: unknown store {index['store']!r}")
    return index


# the settings decode_shard writes into index.json that decide what the extractors see
DECODE_SETTINGS = ("store", "frame_size", "sample_rate", "frame_sampling", "audio_path",
                   "backend", "chunk_frames", "jpeg_quality", "jpeg_subsampling")


def decode_settings(shard_dir: str | os.PathLike) -> dict:
    """How a finished shard was decoded (its index's settings, not its videos): what an extract
    job records in its embedding shard, so that a checkpoint can say how to decode a new video
    for the features it was trained on (eevflow.new_videos)."""
    index = read_shard_index(shard_dir)
    return {k: index[k] for k in DECODE_SETTINGS if k in index}


def read_index(shard_dir: str | os.PathLike) -> list[str]:
    """The video IDs of a finished shard folder, in order."""
    return [row["video_id"] for row in read_shard_index(shard_dir)["videos"]]


def shard_store(shard_dir: str | os.PathLike) -> str:
    """The store a finished shard was written with."""
    return read_shard_index(shard_dir)["store"]


def iter_shard(
    shard_dir: str | os.PathLike,
    modality: str,
    store: str | None = None,
    threads: int = 1,
    sources: Sequence[str | os.PathLike] | None = None,
    only: Sequence[str] | None = None,
) -> Iterator[Decoded]:
    """The shard's videos as extractors see them: frames or audio, read as the shard's index
    says they were stored (eevflow.media_store). ``store``: the store the caller expects (the
    config's ``decode.store``); a shard written with another is refused, not read under the
    wrong settings. Store ``none``: each video is decoded again from the source file its index
    names (which must be among ``sources`` when given: the job's input files), with ``threads``
    FFmpeg threads; its frames go to a temporary folder removed once the next video is asked for.
    ``only``: these videos of the shard only.
    """
    if modality not in ("visual", "audio"):
        raise ValueError(f"modality must be visual or audio, not {modality!r}")
    index = read_shard_index(shard_dir)
    written = index["store"]
    if store is not None and store != written:
        raise ValueError(
            f"{shard_dir} was decoded with decode.store {written}, the config says {store}: "
            "decode the shard again (Snakemake does when the decode job's params changed; "
            "with --rerun-triggers mtime, force it with -R decode)"
        )
    allowed = None if sources is None else {os.path.normpath(str(p)) for p in sources}
    for row in index["videos"]:
        video_id = row["video_id"]
        if only is not None and video_id not in only:
            continue
        f = video_files(shard_dir, video_id, written)
        if written != "none":
            yield load_decoded(str(f["meta"]), str(f["frames"]) if modality == "visual" else None,
                               str(f["audio"]) if modality == "audio" else None)
            continue
        source = row["source"]
        if allowed is not None and os.path.normpath(source) not in allowed:
            raise ValueError(f"{video_id}: its source {source} is not among the job's input files")
        info = read_info(f["meta"])
        try:
            if modality == "audio":
                yield Decoded(info=info, frames=None, audio=decode_audio_track(source, info))
                continue
            with tempfile.TemporaryDirectory(prefix=f"eevflow-{video_id}-") as tmp:
                frames_path = Path(tmp) / "frames.npy"
                again = decode_video(
                    video_id, source, np.asarray(info.timestamps_us, np.int64), frames_path,
                    None, Path(tmp) / META, frame_size=index["frame_size"],
                    sample_rate=index["sample_rate"], chunk_frames=index["chunk_frames"],
                    backend=index["backend"], threads=threads,
                    frame_sampling=index["frame_sampling"], audio_path=index["audio_path"],
                    decode_audio=False,
                )
                if (again.frame_indices, again.decoder) != (info.frame_indices, info.decoder):
                    raise DecodeError(f"{video_id} ({source}): its frames decode differently "
                                      "from its decode metadata: the file changed since")
                yield Decoded(info=info, frames=np.load(frames_path, mmap_mode="r"), audio=None)
        except DECODE_ERRORS as exc:
            if isinstance(exc, DecodeError | StoredMediaError):
                raise
            raise DecodeError(f"{video_id} ({source}): decode failed: {exc}") from exc


def load_video(shard_dir: str | os.PathLike, video_id: str, modality: str) -> Decoded:
    """One video of a finished shard, as :func:`iter_shard` gives it."""
    if video_id not in read_index(shard_dir):
        raise KeyError(f"{video_id} is not in {shard_dir}")
    return next(iter_shard(shard_dir, modality, only=[video_id]))


def decoded_rows(shard_dir: str | os.PathLike) -> int | None:
    """Label rows of the shard's videos, whatever the store (None before its decode job has
    run): what its extract jobs embed."""
    try:
        return sum(int(row["rows"]) for row in read_shard_index(shard_dir)["videos"])
    except FileNotFoundError:
        return None
