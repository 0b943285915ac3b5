"""What the decoder needs to know about a file before decoding it, read with PyAV (no frame is
decoded): its streams and start time, the picture's displayed size, the output size, and whether
decord's random access would decode it exactly (``decode.backend: decord``; see
``eevflow.decoding``)."""

from __future__ import annotations

from dataclasses import dataclass

import av


def letterbox_shape(width: int, height: int, size: int) -> tuple[int, int]:
    """(w, h) that fit the frame into ``size`` x ``size`` keeping its aspect ratio."""
    if width >= height:
        return size, max(1, round(size * height / width))
    return max(1, round(size * width / height)), size


@dataclass(frozen=True)
class Streams:
    """What the decode needs to know about a file, read with PyAV (no frame decoded)."""

    format: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm"
    codec: str
    has_audio: bool
    start_time_s: float
    video_start_s: float
    coded_width: int
    coded_height: int
    sample_aspect: float
    fps: float


def read_streams(container: av.container.InputContainer) -> Streams:
    vs = container.streams.video[0]
    cc = vs.codec_context
    sar = vs.sample_aspect_ratio or cc.sample_aspect_ratio
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    start = container.start_time
    vstart = vs.start_time
    return Streams(
        format=container.format.name,
        codec=cc.name,
        has_audio=bool(container.streams.audio),
        start_time_s=float(start) / av.time_base if start is not None else 0.0,
        video_start_s=float(vstart * vs.time_base) if vstart is not None else 0.0,
        coded_width=int(cc.width),
        coded_height=int(cc.height),
        sample_aspect=float(sar) if sar else 1.0,
        fps=float(rate) if rate else 0.0,
    )


def display_size(width: int, height: int, sample_aspect: float, rotation: int) -> tuple[int, int]:
    """(w, h) of the picture as shown: non-square pixels stretched, then turned upright."""
    if sample_aspect and abs(sample_aspect - 1.0) > 1e-6:
        width = max(1, round(width * sample_aspect))
    return (height, width) if rotation in (90, 270) else (width, height)


def decord_safe(path: str, streams: Streams) -> str:
    """"" when decord's random access decodes ``path`` exactly, else why not."""
    if streams.codec != "h264":
        return f"codec {streams.codec}: decord is exact only on h264 here"
    if not streams.format.startswith("mov,mp4"):
        return f"container {streams.format}: decord is exact only in MP4/MOV"
    if abs(streams.start_time_s) > 1e-9 or abs(streams.video_start_s) > 1e-9:
        return f"streams start at {streams.start_time_s:.3f} s / {streams.video_start_s:.3f} s"
    with av.open(path) as c:
        vs = c.streams.video[0]
        for n, pkt in enumerate(c.demux(vs)):
            if pkt.dts is None:
                continue
            if n == 0 and (not pkt.is_keyframe or pkt.pts != vs.start_time):
                return "the first video packet is not a keyframe at time 0 (a cut stream)"
            if pkt.is_discard:
                return "an edit list hides packets (a cut stream)"
            if n >= 64:
                break
    return ""
