"""Messy real-world media, written with PyAV or raw bytes (no ffmpeg CLI), for the probe and decode
tests and the workflow test.

Each ``write_<kind>(path)`` writes one kind of input to ``path`` and returns the ``Expect``ed
``eevflow.media.probe`` status and a substring of its reason. ``KINDS`` maps kind names to writers.
Everything is deterministic (fixed content, seeded garbage) and small (160 x 120, a few seconds).
Frame i shows i as an 8-bit code of black and white vertical stripes (``code_frame``/``read_code``),
so a test can tell which source frame a decoded row came from.
"""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Callable, NamedTuple

import av
import numpy as np

SIZE = (160, 120)
FPS = 12
SAMPLE_RATE = 22050
BITS = 8
VFR_TIME_BASE = fractions.Fraction(1, 48)


class Expect(NamedTuple):
    """What ``probe`` must say about a written file."""

    status: str
    reason: str  # a substring of probe's reason ("" for ok)


def code_frame(i: int, size: tuple[int, int] = SIZE, bits: int = BITS) -> np.ndarray:
    """Frame ``i`` as RGB: stripe b (of ``bits`` equal columns) is white when bit b of i is set."""
    w, h = size
    img = np.zeros((h, w, 3), np.uint8)
    step = w // bits
    for b in range(bits):
        if (i >> b) & 1:
            img[:, b * step : (b + 1) * step] = 255
    return img


def read_code(img: np.ndarray, bits: int = BITS) -> int:
    """The index shown by a (possibly scaled) ``code_frame`` image with no padding at its sides."""
    band = img[img.shape[0] // 2 - 4 : img.shape[0] // 2 + 4].astype(np.float32).mean(axis=(0, 2))
    step = img.shape[1] / bits
    on = [band[int((b + 0.3) * step) : int((b + 0.7) * step)].mean() > 127 for b in range(bits)]
    return sum(1 << b for b, bit in enumerate(on) if bit)


def marker_frame(size: tuple[int, int]) -> np.ndarray:
    """Grey frame with a white block in its top-left corner (a quarter of each side)."""
    w, h = size
    img = np.full((h, w, 3), 64, np.uint8)
    img[: h // 4, : w // 4] = 255
    return img


def write_clip(
    path: Path,
    pts: list[int] | None = None,
    time_base: fractions.Fraction = fractions.Fraction(1, FPS),
    size: tuple[int, int] = SIZE,
    pix_fmt: str = "yuv420p",
    audio: bool = True,
    audio_s: float | None = None,
    rotation: int = 0,
    frame_fn: Callable[[int], np.ndarray] | None = None,
    options: dict[str, str] | None = None,
) -> Path:
    """H.264 mp4 whose frame i has presentation time ``pts[i] * time_base`` (default: 3 s at 12
    fps) and shows ``frame_fn(i)`` (default ``code_frame(i)``), with an AAC 440 Hz tone as long as
    the video (or ``audio_s``) unless ``audio`` is false. ``rotation`` (degrees clockwise) is
    written as the display matrix; ``options`` go to the muxer (``{"movflags": "faststart"}`` puts
    the index first)."""
    pts = list(range(3 * FPS)) if pts is None else pts
    duration = float((pts[-1] + 1) * time_base)
    w, h = size
    with av.open(str(path), "w", options=options or {}) as out:
        vs = out.add_stream("libx264", rate=round(len(pts) / duration))
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = vs.time_base = time_base
        if rotation:
            vs.set_display_rotation(-rotation)  # PyAV's angle is counter-clockwise
        if audio:
            aus = _tone_stream(out)
        for i, p in enumerate(pts):
            img = frame_fn(i) if frame_fn else code_frame(i, size)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = p
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if audio:
            _mux_tone(out, aus, audio_s or duration)
    return path


def _tone_stream(out: av.container.OutputContainer) -> av.AudioStream:
    stream = out.add_stream("aac", rate=SAMPLE_RATE)
    stream.layout = "mono"
    return stream


def _mux_tone(out: av.container.OutputContainer, stream: av.AudioStream, seconds: float) -> None:
    """Encode and mux ``seconds`` of a 440 Hz tone into ``stream``."""
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    for lo in range(0, len(wave), 1024):
        af = av.AudioFrame.from_ndarray(wave[None, lo : lo + 1024], "fltp", "mono")
        af.sample_rate, af.pts = SAMPLE_RATE, lo
        out.mux(stream.encode(af))
    out.mux(stream.encode())


def _cut(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def write_good(path: Path) -> Expect:
    """3 s, 12 fps, 160 x 120 H.264 with an AAC tone: the normal case."""
    write_clip(path)
    return Expect("ok", "")


def write_truncated_faststart(path: Path) -> Expect:
    """Index-first (faststart) mp4 cut to 60% of its bytes: an interrupted download."""
    write_clip(path, options={"movflags": "faststart"})
    _cut(path, 0.6)
    return Expect("corrupt", "truncated: mp4 box 'mdat'")


def write_truncated(path: Path) -> Expect:
    """Index-last (default) mp4 cut to 60% of its bytes: the index (moov) is lost with the tail."""
    write_clip(path)
    _cut(path, 0.6)
    return Expect("corrupt", "truncated: mp4 box 'mdat'")


def write_garbled_middle(path: Path) -> Expect:
    """The middle 30% of the bytes overwritten with seeded random bytes (video and audio data)."""
    write_clip(path)
    data = bytearray(path.read_bytes())
    lo, hi = int(0.35 * len(data)), int(0.65 * len(data))
    data[lo:hi] = np.random.default_rng(0).integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return Expect("corrupt", "video frame at 1.50 s (of 3.00 s) does not decode")


def write_empty(path: Path) -> Expect:
    """A zero-byte file."""
    path.write_bytes(b"")
    return Expect("corrupt", "empty file (0 bytes)")


def write_text(path: Path) -> Expect:
    """A text file named .mp4."""
    path.write_text("this is not a video\n" * 50)
    return Expect("corrupt", "not a media container: Invalid data found when processing input")


def write_audio_only(path: Path) -> Expect:
    """An mp4 with 3 s of AAC audio and no video stream (an audio-only download)."""
    with av.open(str(path), "w") as out:
        _mux_tone(out, _tone_stream(out), 3.0)
    return Expect("corrupt", "no video stream")


def write_short_audio(path: Path) -> Expect:
    """A healthy 3 s video whose audio track is 1 s long (music that stops before the end)."""
    write_clip(path, audio_s=1.0)
    return Expect("audio_short", "audio track ends at 1.0")


def write_no_audio(path: Path) -> Expect:
    """Video only, no audio stream: usable for visual features."""
    write_clip(path, audio=False)
    return Expect("no_audio", "no audio stream")


def write_one_frame(path: Path) -> Expect:
    """A single frame (1/12 s)."""
    write_clip(path, pts=[0])
    return Expect("too_short", "1 video frame; at least 2 are needed")


def write_half_second(path: Path) -> Expect:
    """0.5 s (6 frames at 12 fps), shorter than the 1 s minimum."""
    write_clip(path, pts=list(range(FPS // 2)))
    return Expect("too_short", "0.50 s is shorter than min_duration_s=1.0")


def vfr_pts(n: int = 72) -> list[int]:
    """Presentation times in ``VFR_TIME_BASE`` ticks with gaps alternating 1 and 3 (24 fps mean)."""
    return [4 * (i // 2) + i % 2 for i in range(n)]


def write_vfr(path: Path) -> Expect:
    """Variable frame rate: frame i (showing code i) starts at ``vfr_pts()[i] / 48`` s."""
    write_clip(path, pts=vfr_pts(), time_base=VFR_TIME_BASE)
    return Expect("ok", "")


def rotated_frame(size: tuple[int, int], rotation: int) -> np.ndarray:
    """The coded picture that shows ``marker_frame(size)`` (w, h as displayed) once turned
    ``rotation`` degrees clockwise."""
    return np.ascontiguousarray(np.rot90(marker_frame(size), k=rotation // 90))


def write_rotated(path: Path, rotation: int = 90) -> Expect:
    """Portrait 120 x 160 as displayed, stored as 160 x 120 turned back and a display matrix of
    ``rotation`` degrees clockwise (as phones write); the marker is top-left when displayed."""
    frame = rotated_frame((120, 160), rotation)
    h, w = frame.shape[:2]
    write_clip(path, size=(w, h), rotation=rotation, frame_fn=lambda i: frame)
    return Expect("ok", "")


def write_odd_size(path: Path) -> Expect:
    """175 x 99, odd on both sides (4:4:4 chroma: libx264 rejects odd sizes in 4:2:0)."""
    write_clip(path, size=(175, 99), pix_fmt="yuv444p")
    return Expect("ok", "")


def write_wide(path: Path) -> Expect:
    """320 x 64, an extreme 5:1 aspect ratio."""
    write_clip(path, size=(320, 64))
    return Expect("ok", "")


def write_unsupported_codec(path: Path) -> Expect:
    """A Matroska file (named as given, e.g. .mp4) whose video track's codec ID FFmpeg does not
    know: an MPEG-4 Part 2 track with its CodecID overwritten by one of the same length."""
    with av.open(str(path), "w", format="matroska") as out:
        vs = out.add_stream("mpeg4", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(2 * FPS):
            frame = av.VideoFrame.from_ndarray(code_frame(i), format="rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
    data = path.read_bytes()
    assert data.count(b"V_MPEG4/ISO/ASP") == 1
    path.write_bytes(data.replace(b"V_MPEG4/ISO/ASP", b"V_QQQQQ/XYZ/ABC"))
    return Expect("unsupported_codec", "unsupported video codec: FFmpeg")


KINDS: dict[str, Callable[[Path], Expect]] = {
    "good": write_good,
    "truncated_faststart": write_truncated_faststart,
    "truncated": write_truncated,
    "garbled_middle": write_garbled_middle,
    "empty": write_empty,
    "text": write_text,
    "audio_only": write_audio_only,
    "short_audio": write_short_audio,
    "no_audio": write_no_audio,
    "one_frame": write_one_frame,
    "half_second": write_half_second,
    "vfr": write_vfr,
    "rotated": write_rotated,
    "odd_size": write_odd_size,
    "wide": write_wide,
    "unsupported_codec": write_unsupported_codec,
}


def write_garbled_audio_middle(path: Path, seconds: int = 8) -> Path:
    """A healthy ``seconds`` s clip whose audio packets between 2 s and 4 s are replaced by seeded
    random bytes of the same size (the video and the audio's first and last seconds intact): a
    damage that only a decode of the whole audio track meets (``probe.audio: full``)."""
    src = path.with_name(path.stem + ".src.mp4")
    write_clip(src, pts=list(range(seconds * FPS)))
    rng = np.random.default_rng(0)
    with av.open(str(src)) as inp, av.open(str(path), "w") as out:
        ivs, ias = inp.streams.video[0], inp.streams.audio[0]
        ovs, oas = out.add_stream_from_template(ivs), out.add_stream_from_template(ias)
        for pkt in inp.demux():
            if pkt.dts is None:  # the demuxer's flush packets
                continue
            if pkt.stream is ias and 2.0 < float(pkt.pts * ias.time_base) < 4.0:
                noise = av.Packet(rng.integers(0, 256, pkt.size, dtype=np.uint8).tobytes())
                noise.pts, noise.dts, noise.time_base = pkt.pts, pkt.dts, pkt.time_base
                noise.stream = oas
                out.mux(noise)
                continue
            pkt.stream = oas if pkt.stream is ias else ovs
            out.mux(pkt)
    src.unlink()
    return path
