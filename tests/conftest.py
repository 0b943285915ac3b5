"""Shared fixtures: small real media files written with PyAV (H.264 + AAC)."""

from __future__ import annotations

import fractions
from pathlib import Path

import av
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TARGETS = [
    "amusement", "anger", "awe", "concentration", "confusion", "contempt", "contentment",
    "disappointment", "doubt", "elation", "interest", "pain", "sadness", "surprise", "triumph",
]


def write_video(
    path: Path,
    seconds: float = 3.0,
    fps: int = 12,
    size: tuple[int, int] = (160, 120),
    audio: bool = True,
    sample_rate: int = 22050,
    frame_fn=None,
    audio_fn=None,
) -> Path:
    """A clip whose frame i is uniformly grey level 10 * (i % 24) and whose audio is a 440 Hz
    tone (or ``frame_fn(i) -> (h, w, 3) uint8`` and ``audio_fn(t_seconds) -> float32 wave``);
    returns the path."""
    n = int(round(seconds * fps))
    w, h = size
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.time_base = fractions.Fraction(1, fps)
        if audio:
            aus = out.add_stream("aac", rate=sample_rate)
            aus.layout = "mono"
        for i in range(n):
            img = frame_fn(i) if frame_fn else np.full((h, w, 3), 10 * (i % 24), np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if audio:
            t = np.arange(int(seconds * sample_rate)) / sample_rate
            wave = audio_fn(t) if audio_fn else 0.3 * np.sin(2 * np.pi * 440 * t)
            wave = np.asarray(wave, dtype=np.float32)
            for k, lo in enumerate(range(0, len(wave), 1024)):
                chunk = wave[lo : lo + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate, af.pts = sample_rate, lo
                for pkt in aus.encode(af):
                    out.mux(pkt)
            for pkt in aus.encode():
                out.mux(pkt)
    return path


@pytest.fixture
def small_video(tmp_path) -> Path:
    return write_video(tmp_path / "clip.mp4")
