"""Video probing and decoding with decord: frames at the label timestamps, audio at 16 kHz mono.

decord facts that shape this module (see DESIGN.md): ``DECORDError`` is not a ``RuntimeError``, so
both are caught; a file without an audio stream raises in ``AudioReader`` while ``VideoReader``
works; ``AudioReader(...).shape[1]`` is the sample count. Frames are decoded in chunks and written
straight into a memory-mapped ``.npy``, so a long video never sits in memory at native size.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eevflow.io import atomic_path

try:  # decord's error type is not a RuntimeError
    from decord._ffi.base import DECORDError
except ImportError:  # pragma: no cover - decord layout change
    DECORDError = RuntimeError
DECODE_ERRORS = (DECORDError, RuntimeError, ValueError, OSError)


@dataclass
class ProbeResult:
    """One manifest row: what the file is and whether the workflow can use it."""

    video_id: str
    path: str
    status: str  # ok | missing | corrupt | no_audio
    reason: str
    duration_s: float = float("nan")
    fps: float = float("nan")
    n_frames: int = 0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    audio_duration_s: float = float("nan")

    @property
    def usable(self) -> bool:
        return self.status == "ok"


def _open_video(path: str, **kwargs):
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0), **kwargs)


def _open_audio(path: str, sample_rate: int):
    import decord

    return decord.AudioReader(path, ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)


def probe(video_id: str, path: str | os.PathLike, sample_rate: int = 16000) -> ProbeResult:
    """Open the file, read its video and audio properties, and classify it."""
    path = str(path)
    row = ProbeResult(video_id=video_id, path=path, status="ok", reason="")
    if not os.path.exists(path):
        row.status, row.reason = "missing", "file not found"
        return row
    if os.path.getsize(path) == 0:
        row.status, row.reason = "corrupt", "empty file (0 bytes)"
        return row
    try:
        vr = _open_video(path)
        row.n_frames = len(vr)
        row.fps = float(vr.get_avg_fps())
        if row.n_frames < 1:
            raise ValueError("no video frames")
        first = vr[0].shape
        row.height, row.width = int(first[0]), int(first[1])
        row.duration_s = float(vr.get_frame_timestamp(row.n_frames - 1)[1])
    except DECODE_ERRORS as exc:
        row.status, row.reason = "corrupt", f"video stream does not decode: {_short(exc)}"
        return row
    try:
        ar = _open_audio(path, sample_rate)
        n_samples = int(ar.shape[1])
        row.has_audio = n_samples > 0
        row.audio_duration_s = n_samples / sample_rate
    except DECODE_ERRORS as exc:
        row.status, row.reason = "no_audio", f"no decodable audio stream: {_short(exc)}"
        return row
    if not row.has_audio:
        row.status, row.reason = "no_audio", "audio stream has no samples"
    return row


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:200]


# Label times are rounded to microseconds and container times to their time base (often 1 ms, so
# off by up to 0.5 ms): a frame that starts less than this after the label time counts as on screen
# at it. Not more: at 29.97 fps frame 15 starts at 0.5005 s, and at 0.5 s frame 14 shows.
FRAME_TIME_TOLERANCE_S = 5e-4


def frame_indices(timestamps_us: np.ndarray, frame_starts_s: np.ndarray) -> np.ndarray:
    """Index of the frame on screen at each timestamp (last frame whose start < t + tolerance),
    clipped."""
    t = np.asarray(timestamps_us, dtype=np.float64) / 1e6
    idx = np.searchsorted(frame_starts_s, t + FRAME_TIME_TOLERANCE_S, side="left") - 1
    return np.clip(idx, 0, len(frame_starts_s) - 1)


def letterbox_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) that fit the frame into ``size`` x ``size`` keeping its aspect ratio."""
    if width >= height:
        return size, max(1, round(size * height / width))
    return max(1, round(size * width / height)), size


@dataclass
class DecodeInfo:
    video_id: str
    fps: float
    n_frames: int
    width: int
    height: int
    frame_size: int
    sample_rate: int
    n_samples: int
    timestamps_us: list[int]
    frame_indices: list[int]


def decode_video(
    video_id: str,
    path: str | os.PathLike,
    timestamps_us: np.ndarray,
    frames_out: str | os.PathLike,
    audio_out: str | os.PathLike,
    meta_out: str | os.PathLike,
    frame_size: int = 224,
    sample_rate: int = 16000,
    chunk_frames: int = 64,
) -> DecodeInfo:
    """Decode the frames on screen at each label timestamp and the whole audio track.

    Frames are scaled (aspect kept) so the longer side is ``frame_size``, zero-padded (centred) to a
    square, RGB uint8, written chunk by chunk to ``frames_out`` (N, S, S, 3). Audio is resampled to
    ``sample_rate`` mono float32 and written to ``audio_out``. ``meta_out`` (JSON) records the
    timestamps, the source frame index of each row and the stream properties.
    """
    path = str(path)
    timestamps_us = np.asarray(timestamps_us, dtype=np.int64)
    native = _open_video(path)
    n_frames = len(native)
    height, width = (int(v) for v in native[0].shape[:2])
    starts = np.asarray(native.get_frame_timestamp(np.arange(n_frames)))[:, 0]
    fps = float(native.get_avg_fps())
    del native
    idx = frame_indices(timestamps_us, starts)
    new_w, new_h = letterbox_shape(width, height, frame_size)
    vr = _open_video(path, width=new_w, height=new_h)
    top, left = (frame_size - new_h) // 2, (frame_size - new_w) // 2

    with atomic_path(frames_out) as tmp:
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(len(idx), frame_size, frame_size, 3)
        )
        for lo in range(0, len(idx), chunk_frames):
            chunk = idx[lo : lo + chunk_frames]
            uniq, inverse = np.unique(chunk, return_inverse=True)
            frames = vr.get_batch(uniq.tolist()).asnumpy()[inverse]
            out[lo : lo + len(chunk)] = 0
            out[lo : lo + len(chunk), top : top + new_h, left : left + new_w] = frames
        out.flush()
        del out

    audio = _open_audio(path, sample_rate)[:].asnumpy().astype(np.float32).reshape(-1)
    with atomic_path(audio_out) as tmp:
        np.save(tmp, audio)

    info = DecodeInfo(
        video_id=video_id,
        fps=fps,
        n_frames=n_frames,
        width=width,
        height=height,
        frame_size=frame_size,
        sample_rate=sample_rate,
        n_samples=int(audio.shape[0]),
        timestamps_us=timestamps_us.tolist(),
        frame_indices=idx.tolist(),
    )
    with atomic_path(meta_out) as tmp:
        Path(tmp).write_text(json.dumps(asdict(info)))
    return info


@dataclass
class Decoded:
    """A decoded video as the extractors see it (frames memory-mapped, not loaded)."""

    info: DecodeInfo
    frames: np.ndarray | None
    audio: np.ndarray | None

    @property
    def timestamps_us(self) -> np.ndarray:
        return np.asarray(self.info.timestamps_us, dtype=np.int64)


def load_decoded(meta_path: str, frames_path: str | None, audio_path: str | None) -> Decoded:
    info = DecodeInfo(**json.loads(Path(meta_path).read_text()))
    frames = np.load(frames_path, mmap_mode="r") if frames_path else None
    audio = np.load(audio_path) if audio_path else None
    return Decoded(info=info, frames=frames, audio=audio)
