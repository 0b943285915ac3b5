"""Probing a video file with PyAV: what it is, and whether (and how) the workflow can use it.

One manifest row per file (:class:`ProbeResult`). The checks read the container and its streams,
decode the first, middle and last frame (after a seek, as the decoder will meet them), and decode
the audio track's first frames and its last seconds after a seek (``probe.audio: ends``; ``full``
decodes the whole track, which also finds a damaged packet in its middle). Decoding proper is in
``eevflow.decoding``; the probe also says which frame path (``decoder``) will decode each file.

Statuses, in the order they are checked: ``missing``, ``corrupt`` (a file that is empty,
truncated, not media, without a video stream, or whose frames or audio do not decode),
``unsupported_codec`` (FFmpeg reads the container but has no decoder for the video codec: the
codec and container are named), ``too_short``, ``audio_short`` (a healthy audio track that ends
before the picture: kept by default and padded with silence, ``probe.short_audio``),
``no_audio`` (no audio stream: its frames are used, ``probe.no_audio``), else ``ok``.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

import av

from eevflow.decoding import BACKENDS, FRAME_TIME_TOLERANCE_S
from eevflow.streams import Streams, decord_safe, display_size, read_streams

# Statuses whose files decode_video can decode (which of them go on is the config's choice).
DECODABLE = ("ok", "no_audio", "audio_short")
# The last frame is found from the last keyframe (a seek to the end); where that seek finds no
# frame, from this far before the end (longer than any keyframe interval seen).
TAIL_SEEK_S = 12.0
# probe.audio: ends decodes this many audio frames at the start (about 0.2 s of AAC at 44.1 kHz)...
AUDIO_HEAD_FRAMES = 8
# ...and the audio from this long before the end that the metadata gives (every audio packet of
# AAC, Opus, Vorbis, MP3 and PCM is a seek point; the margin covers metadata that is a little off)
AUDIO_TAIL_S = 3.0
AUDIO_MODES = ("ends", "full")


@dataclass
class ProbeResult:
    """One manifest row: what the file is and whether the workflow can use it.

    ``width``/``height`` are the displayed (upright) size; ``rotation`` is the degrees clockwise
    the container asks players to turn the coded picture (0, 90, 180 or 270); ``duration_s`` is
    where the last frame ends, ``start_time_s`` the container start that label time 0 maps to,
    ``audio_duration_s`` where the sound ends on the same timeline; ``container`` is FFmpeg's
    demuxer name; ``decoder`` the frame path decode will take (``pyav`` or ``decord``) and
    ``decoder_note`` why PyAV was chosen where decord was asked for.
    """

    video_id: str
    path: str
    status: str
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
    container: str = ""
    audio_codec: str = ""
    start_time_s: float = 0.0
    decoder: str = ""
    decoder_note: str = ""

    @property
    def usable(self) -> bool:
        """Whether ``decode_video`` can decode it (the config decides which of these go on)."""
        return self.status in DECODABLE


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




def probe(
    video_id: str,
    path: str | os.PathLike,
    sample_rate: int = 16000,
    min_duration_s: float = 1.0,
    audio_tolerance_s: float = 0.5,
    audio_tolerance_frac: float = 0.05,
    backend: str = "pyav",
    audio: str = "ends",
) -> ProbeResult:
    """Open the file, read its video and audio properties, and classify it (module docstring).

    The audio track is ``audio_short`` when it ends more than max(``audio_tolerance_s``,
    ``audio_tolerance_frac`` x duration) before the picture. ``backend`` is ``decode.backend``:
    the row's ``decoder`` is the path decode will take for this file. ``audio`` is
    ``probe.audio``: ``ends`` decodes the audio track's first frames and its last seconds, ``full``
    all of it (:func:`_check_audio`).
    """
    if backend not in BACKENDS:
        raise ValueError(f"decode backend must be one of {list(BACKENDS)}, not {backend!r}")
    if audio not in AUDIO_MODES:
        raise ValueError(f"probe.audio must be one of {list(AUDIO_MODES)}, not {audio!r}")
    row = ProbeResult(video_id=video_id, path=str(path), status="ok", reason="")
    row.status, row.reason = _classify(
        row, min_duration_s, audio_tolerance_s, audio_tolerance_frac, backend, audio
    )
    return row


def _classify(row, min_duration_s, audio_tolerance_s, audio_tolerance_frac, backend, audio):
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
        c = av.open(path)
    except (av.FFmpegError, OSError) as exc:
        return "corrupt", f"not a media container: {_short(exc)}"
    with c:
        row.container = c.format.name
        if not c.streams.video:
            return "corrupt", "no video stream"
        vs = c.streams.video[0]
        unsupported = _unsupported(vs, row.container)
        if unsupported:
            return "unsupported_codec", unsupported
        streams = read_streams(c)
        row.codec, row.fps, row.start_time_s = streams.codec, streams.fps, streams.start_time_s
        problem = _check_frames(c, vs, row, streams)
        if problem:
            return "corrupt", problem
        if c.streams.audio:
            row.audio_codec = c.streams.audio[0].codec_context.name
            problem = _check_audio(c, row, audio)
            if problem:
                return "corrupt", problem
    row.decoder, row.decoder_note = "pyav", ""
    if backend == "decord":
        why = decord_safe(path, streams)
        row.decoder, row.decoder_note = ("pyav", why) if why else ("decord", "")
    if row.n_frames < 2:
        n = row.n_frames
        return "too_short", f"{n} video frame{'' if n == 1 else 's'}; at least 2 are needed"
    if row.duration_s < min_duration_s:
        return "too_short", f"{row.duration_s:.2f} s is shorter than {min_duration_s=}"
    if not row.has_audio:
        return "no_audio", "no audio stream: usable for visual features only"
    tolerance = max(audio_tolerance_s, audio_tolerance_frac * row.duration_s)
    if row.audio_duration_s < row.duration_s - tolerance:
        return "audio_short", (
            f"audio track ends at {row.audio_duration_s:.2f} s, the picture at "
            f"{row.duration_s:.2f} s (more than {tolerance:.2f} s early)"
        )
    return "ok", ""


def _unsupported(vs: av.VideoStream, container: str) -> str:
    """Why FFmpeg cannot decode the video stream ("" when it can): the codec (if FFmpeg knows its
    name) and the container."""
    cc = vs.codec_context  # None when FFmpeg has no decoder for the stream
    name = getattr(cc, "name", "") or ""
    build = f"PyAV {av.__version__}, libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}"
    if not name or name == "none":
        return (
            f"unsupported video codec: FFmpeg ({build}) recognises no video codec in this "
            f"{container!r} stream, so it has no decoder for it"
        )
    try:
        av.codec.Codec(name, "r")
    except (av.FFmpegError, ValueError):
        return (
            f"unsupported video codec {name!r} in container {container!r}: this FFmpeg ({build}) "
            "has no decoder for it"
        )
    return ""


def _frame_near(c, vs, target_s: float):
    """The first frame at or after ``target_s`` (container time), and the last frame decoded, after
    a backward seek; (None, None) when there is none."""
    offset = int(target_s / vs.time_base)
    c.seek(max(offset, vs.start_time or 0), stream=vs, backward=True, any_frame=False)
    last = None
    for frame in c.decode(vs):
        last = frame
        if frame.time is not None and frame.time >= target_s - FRAME_TIME_TOLERANCE_S:
            return frame, last
    return None, last


def _check_frames(c, vs, row, streams: Streams) -> str:
    """Decode the first, middle and last frame; fill in the size, duration and frame count."""
    start = streams.start_time_s
    what = f"{streams.codec} in {streams.format}"
    meta_end = c.duration / av.time_base if c.duration else None
    frames = []
    try:
        first = next(c.decode(vs), None)
    except av.FFmpegError as exc:
        return f"the first video frame does not decode ({what}): {_short(exc)}"
    if first is None:
        return f"no video frame decodes ({what})"
    frames.append(first)
    rotation = -first.rotation % 360
    row.rotation = rotation
    row.width, row.height = display_size(first.width, first.height, streams.sample_aspect,
                                         rotation)
    total = meta_end if meta_end else None
    at = float(first.time or 0.0)
    try:
        if total:
            at = start + total / 2
            mid, _ = _frame_near(c, vs, at)
            if mid is not None:
                frames.append(mid)
        # the last frame: decode from the last keyframe before the end (a seek to the end lands
        # there), else from TAIL_SEEK_S before it; no duration in the container: read it all
        for back in (0.0, TAIL_SEEK_S) if total else (None,):
            if back is None:
                c.seek(vs.start_time or 0, stream=vs, backward=True, any_frame=False)
            else:
                at = max(start, start + total - back)
                c.seek(int(at / vs.time_base), stream=vs, backward=True, any_frame=False)
            count, last = 0, None
            for frame in c.decode(vs):
                count, last = count + 1, frame
                at = float(frame.time or at)
            if last is not None:
                break
    except av.FFmpegError as exc:
        return f"video frame at {at - start:.2f} s (of {total or float('nan'):.2f} s) does not " \
            f"decode ({what}): {_short(exc)}"
    if last is None:
        return f"no video frame decodes after {at - start:.2f} s ({what})"
    step = 1.0 / streams.fps if streams.fps else 0.04
    length = float(last.duration * last.time_base) if last.duration else step
    row.duration_s = float(last.time or 0.0) - start + length
    if not total:
        row.n_frames = count
    elif vs.frames:
        row.n_frames = int(vs.frames)
    else:
        row.n_frames = max(1, round((row.duration_s - (float(first.time or 0) - start)) * streams.fps))
    return ""


def _check_audio(c, row, mode: str = "ends") -> str:
    """Find where the audio track ends (``row.audio_duration_s``) and check that it decodes. A
    stream that fails is corrupt.

    ``full`` decodes the whole track. ``ends`` decodes the first few frames, then seeks to
    ``AUDIO_TAIL_S`` before where the metadata says the track ends (the audio stream's duration,
    else the container's) and decodes from there to the end of the file: the last frame decoded
    is the track's end, as with ``full``, also when the metadata is off (a track shorter than it
    says is met after the seek, a longer one is read on to its end). Without any duration in the
    metadata it reads on to the end. What only ``full`` finds: a packet in the middle of the track
    that does not decode (decode meets it later, in the decode job)."""
    stream = c.streams.audio[0]
    c.seek(0)
    scan = _AudioScan(row.start_time_s)
    problem = scan.read(c, stream, None if mode == "full" else AUDIO_HEAD_FRAMES)
    if not problem and not scan.at_eof:
        meta_end = _audio_meta_end(c, stream)
        if meta_end is not None and meta_end - AUDIO_TAIL_S > (scan.end or 0.0):
            target = meta_end - AUDIO_TAIL_S
            c.seek(int(target / stream.time_base), stream=stream, backward=True, any_frame=False)
            tail = _AudioScan(row.start_time_s, target)
            problem = tail.read(c, stream, None)
            if not problem and tail.samples == 0:  # the seek found nothing: read it all
                c.seek(0)
                scan = _AudioScan(row.start_time_s)
                problem = scan.read(c, stream, None)
            else:
                scan.samples += tail.samples
                scan.end = tail.end if tail.end is not None else scan.end
        else:  # no duration to seek to, or the end is near: read on
            problem = scan.read(c, stream, None)
    if problem:
        return problem
    row.has_audio = scan.samples > 0
    row.audio_duration_s = (scan.end - row.start_time_s) if scan.end is not None else 0.0
    if not row.has_audio:
        return "the audio stream holds no samples"
    return ""


class _AudioScan:
    """Audio frames decoded from the container's position on: samples counted and where the last
    one ends (container time)."""

    def __init__(self, start_time_s: float, at: float = 0.0) -> None:
        self.start_time_s = start_time_s
        self.at = at  # where decoding is (for the error message)
        self.end: float | None = None
        self.samples = 0
        self.at_eof = False

    def read(self, c, stream, limit: int | None) -> str:
        """Decode up to ``limit`` frames (all with None); "" or why the stream does not decode."""
        n = 0
        try:
            for frame in c.decode(stream):
                if frame.time is not None:
                    self.at = float(frame.time)
                    self.end = self.at + frame.samples / frame.sample_rate
                self.samples += frame.samples
                n += 1
                if limit is not None and n >= limit:
                    return ""
        except av.FFmpegError as exc:
            at = self.at - self.start_time_s
            return f"audio stream does not decode at {at:.2f} s: {_short(exc)}"
        self.at_eof = True
        return ""


def _audio_meta_end(c, stream) -> float | None:
    """Where the metadata says the audio track ends (container time, s): the stream's own
    duration (mp4, mov), else the container's (Matroska and WebM give no stream duration)."""
    if stream.duration:
        return float(((stream.start_time or 0) + stream.duration) * stream.time_base)
    if c.duration:
        return ((c.start_time or 0) + c.duration) / av.time_base
    return None


# decord prefixes each message with "[hh:mm:ss] source.cc:line: ", sometimes several times.
_DECORD_PREFIX = re.compile(r"\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def _short(exc: BaseException) -> str:
    """The gist of an error: FFmpeg's message, or decord's last line without its log prefixes."""
    text = getattr(exc, "strerror", None) or _DECORD_PREFIX.sub("", str(exc)).strip()
    lines = text.splitlines()
    return (lines[-1] if lines else type(exc).__name__)[:200]
