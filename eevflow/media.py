"""Video probing and decoding with decord: frames at the label timestamps, audio at 16 kHz mono.

decord facts that shape this module (see DESIGN.md): ``DECORDError`` is not a ``RuntimeError``, so
both are caught; a file without an audio stream raises in ``AudioReader`` while ``VideoReader``
works; ``AudioReader(...).shape[1]`` is the sample count, and a damaged audio track decodes short
without raising. decord (0.6.0, CPU) turns frames upright by the container's rotation itself, and
its ``width``/``height`` are those of the upright picture. Frames are decoded in chunks and written
straight into a memory-mapped ``.npy``, so a long video never sits in memory at native size.

PyAV reads what decord does not report: the streams present, the video codec and the rotation.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from eevflow.io import atomic_path

try:  # decord's error type is not a RuntimeError
    from decord._ffi.base import DECORDError
except ImportError:  # pragma: no cover - decord layout change
    DECORDError = RuntimeError
DECODE_ERRORS = (DECORDError, RuntimeError, ValueError, OSError)
# Statuses that decode_video handles; no_audio gives frames and silence (visual features only).
DECODABLE = ("ok", "no_audio")


@dataclass
class ProbeResult:
    """One manifest row: what the file is and whether the workflow can use it.

    ``width``/``height`` are the displayed (upright) size; ``rotation`` is the degrees clockwise
    the container asks players to turn the coded picture (0, 90, 180 or 270).
    """

    video_id: str
    path: str
    status: str  # ok | missing | corrupt | no_audio | too_short
    reason: str
    duration_s: float = float("nan")
    fps: float = float("nan")
    n_frames: int = 0
    width: int = 0
    height: int = 0
    has_audio: bool = False
    audio_duration_s: float = float("nan")
    codec: str = ""
    rotation: int = 0

    @property
    def usable(self) -> bool:
        """Whether ``decode_video`` can decode it: ``ok``, or ``no_audio`` (visual only)."""
        return self.status in DECODABLE


@dataclass(frozen=True)
class Container:
    """What PyAV reads from a file: the video codec ("" without a video stream), whether there is
    an audio stream, and the rotation (degrees clockwise, from the first frame's display matrix)."""

    codec: str
    has_audio: bool
    rotation: int


def read_container(path: str | os.PathLike) -> Container:
    """Open the file with PyAV (raises ``av.FFmpegError`` or ``OSError`` if it cannot)."""
    with av.open(str(path)) as c:
        if not c.streams.video:
            return Container(codec="", has_audio=bool(c.streams.audio), rotation=0)
        video = c.streams.video[0]
        try:
            frame = next(c.decode(video), None)
        except av.FFmpegError:  # no rotation to read; probe's frame checks report the damage
            frame = None
        rotation = -frame.rotation % 360 if frame is not None else 0
        return Container(video.codec_context.name, bool(c.streams.audio), rotation)


def _mp4_box_problem(path: str, size: int) -> str:
    """What is wrong with the top-level boxes of an ISO media file (mp4, mov, m4a: one that starts
    with an ``ftyp`` box): a box that runs past the end of the file, or no ``moov`` box (the index,
    without which nothing decodes). "" when they are sound or the file is not one."""
    kinds = set()
    offset = 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            head = f.read(16)
            if len(head) < 8:
                return f"truncated: {len(head)} stray bytes after the last mp4 box"
            box_size, kind = struct.unpack(">I4s", head[:8])
            if offset == 0 and kind != b"ftyp":
                return ""
            if box_size == 1 and len(head) == 16:  # 64-bit size
                box_size = struct.unpack(">Q", head[8:])[0]
            elif box_size == 0:  # runs to the end of the file
                box_size = size - offset
            name = kind.decode("latin-1")
            if box_size < 8:
                return f"damaged: mp4 box '{name}' at byte {offset} has size {box_size}"
            if offset + box_size > size:
                return (
                    f"truncated: mp4 box '{name}' spans bytes {offset}-{offset + box_size}, "
                    f"the file is {size} bytes"
                )
            kinds.add(kind)
            offset += box_size
    return "" if b"moov" in kinds else "no 'moov' box (the mp4 index): incomplete download"


def _open_video(path: str, **kwargs):
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0), **kwargs)


def _open_audio(path: str, sample_rate: int):
    import decord

    return decord.AudioReader(path, ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)


def probe(
    video_id: str,
    path: str | os.PathLike,
    sample_rate: int = 16000,
    min_duration_s: float = 1.0,
    audio_tolerance_s: float = 0.5,
    audio_tolerance_frac: float = 0.05,
) -> ProbeResult:
    """Open the file, read its video and audio properties, and classify it.

    The first failing check sets the status: ``missing`` (no file); ``corrupt`` (0 bytes, mp4
    boxes truncated or without an index, not a media container, no video stream, decord cannot
    open the video or decode its first, middle or last frame, the audio stream does not decode or
    is shorter than the video by more than max(``audio_tolerance_s``, ``audio_tolerance_frac`` x
    duration)); ``too_short`` (fewer than 2 frames or under ``min_duration_s``); ``no_audio`` (no
    audio stream: usable for visual features); else ``ok``. The reason names what was measured.
    """
    row = ProbeResult(video_id=video_id, path=str(path), status="ok", reason="")
    row.status, row.reason = _classify(
        row, sample_rate, min_duration_s, audio_tolerance_s, audio_tolerance_frac
    )
    return row


def _classify(
    row: ProbeResult,
    sample_rate: int,
    min_duration_s: float,
    audio_tolerance_s: float,
    audio_tolerance_frac: float,
) -> tuple[str, str]:
    """(status, reason) of ``row.path``, filling in the fields of ``row`` it measures."""
    path = row.path
    if not os.path.exists(path):
        return "missing", "file not found"
    size = os.path.getsize(path)
    if size == 0:
        return "corrupt", "empty file (0 bytes)"
    problem = _mp4_box_problem(path, size)
    if problem:
        return "corrupt", problem
    try:
        container = read_container(path)
    except (av.FFmpegError, OSError) as exc:
        return "corrupt", f"not a media container: {_short(exc)}"
    row.codec, row.rotation = container.codec, container.rotation
    if not container.codec:
        return "corrupt", "no video stream"
    try:
        vr = _open_video(path)
        n = row.n_frames = len(vr)
        row.fps = float(vr.get_avg_fps())
        if n:
            row.duration_s = float(vr.get_frame_timestamp(n - 1)[1])
    except DECODE_ERRORS as exc:
        return "corrupt", f"video stream does not open: {_short(exc)}"
    for i in sorted({0, n // 2, n - 1} if n else set()):
        try:
            shape = vr[i].shape
        except DECODE_ERRORS as exc:
            start = float(vr.get_frame_timestamp(i)[0])
            detail = _short(exc)
            return "corrupt", f"video frame {i} of {n} (at {start:.2f} s) does not decode: {detail}"
        row.height, row.width = int(shape[0]), int(shape[1])
    if container.has_audio:
        try:
            n_samples = int(_open_audio(path, sample_rate).shape[1])
        except DECODE_ERRORS as exc:
            return "corrupt", f"audio stream does not decode: {_short(exc)}"
        row.has_audio = n_samples > 0
        row.audio_duration_s = n_samples / sample_rate
        tolerance = max(audio_tolerance_s, audio_tolerance_frac * row.duration_s)
        if row.audio_duration_s < row.duration_s - tolerance:
            return "corrupt", (
                f"audio track is {row.audio_duration_s:.2f} s, video {row.duration_s:.2f} s: "
                "damaged or truncated"
            )
    if n < 2:
        return "too_short", f"{n} video frame{'' if n == 1 else 's'}; at least 2 are needed"
    if row.duration_s < min_duration_s:
        return "too_short", f"{row.duration_s:.2f} s is shorter than {min_duration_s=}"
    if not container.has_audio:
        return "no_audio", "no audio stream: usable for visual features only"
    return "ok", ""


# decord prefixes each message with "[hh:mm:ss] source.cc:line: ", sometimes several times.
_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def _short(exc: BaseException) -> str:
    """The gist of an error: FFmpeg's message, or decord's last line without its log prefixes."""
    text = getattr(exc, "strerror", None) or _DECORD_PREFIX.sub("", str(exc)).strip()
    lines = text.splitlines()
    return (lines[-1] if lines else type(exc).__name__)[:200]


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
    """What ``decode_video`` wrote (stored as JSON). ``width``/``height``: the displayed (upright)
    size; ``rotation``: degrees clockwise the frames were turned to be upright; ``audio_source``:
    "stream", or "silence" (zeros over the video's duration) for a file without an audio stream."""

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
    rotation: int = 0
    audio_source: str = "stream"


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

    Frames are upright as displayed (decord applies the container's rotation), scaled (aspect kept)
    so the longer side is ``frame_size``, zero-padded (centred) to a square, RGB uint8, written
    chunk by chunk to ``frames_out`` (N, S, S, 3). Audio is resampled to ``sample_rate`` mono
    float32 and written to ``audio_out``; a file without an audio stream gets silence as long as
    its video. ``meta_out`` (JSON) records the timestamps, the source frame index of each row and
    the stream properties.
    """
    path = str(path)
    timestamps_us = np.asarray(timestamps_us, dtype=np.int64)
    container = read_container(path)
    native = _open_video(path)
    n_frames = len(native)
    height, width = (int(v) for v in native[0].shape[:2])
    stamps = np.asarray(native.get_frame_timestamp(np.arange(n_frames)))
    fps = float(native.get_avg_fps())
    del native
    idx = frame_indices(timestamps_us, stamps[:, 0])
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

    if container.has_audio:
        audio = _open_audio(path, sample_rate)[:].asnumpy().astype(np.float32).reshape(-1)
    else:
        audio = np.zeros(round(float(stamps[-1, 1]) * sample_rate), np.float32)
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
        rotation=container.rotation,
        audio_source="stream" if container.has_audio else "silence",
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
