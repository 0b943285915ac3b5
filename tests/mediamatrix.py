"""Real-world codecs, containers and timing quirks, written with PyAV's FFmpeg (no ffmpeg CLI), for
the codec-matrix test and bench/bench_decode.py.

Every file's frame ``i`` shows ``i`` as an 8-bit stripe code (``badmedia.code_frame``) and its
audio plays, during source second ``k``, a tone of ``tone_hz(k)``. ``CASES`` maps a case name to
its writer; each writer returns a :class:`Truth`, which says from the file's construction (not from
any decoder) which source frame is on screen at a label time and which source second is heard.

Quirks: H.264 and HEVC (8- and 10-bit) with B-frames, VP9, AV1, MPEG-4 Part 2 at 29.97 fps,
ProRes; MP4, MKV, WebM, MOV; a stream cut at a non-keyframe without re-encoding (the edit list
hides the frames before the cut, as ``ffmpeg -ss ... -c copy`` writes it), a video track that an
edit list starts 1.5 s after the sound, streams that all start at 1.5 s, variable frame rate, 4K.
"""

from __future__ import annotations

import fractions
import math
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import av
import numpy as np

import badmedia

F = fractions.Fraction
SIZE = (256, 144)  # 32-pixel stripes; a multiple of 16 for every encoder
LATE = F(1, 2000)  # eevflow.decoding.FRAME_TIME_TOLERANCE_S


def tone_hz(k: int) -> float:
    """The tone of source second ``k`` (500 Hz apart, under 4 kHz)."""
    return 500.0 + 500.0 * (k % 7)


@dataclass(frozen=True)
class Truth:
    """What a player shows: label time ``t`` (s from the file's start) is source time
    ``t + video_shift`` of the picture and ``t + audio_shift`` of the sound; frame ``i`` starts at
    source time ``starts[i]`` (exact); only frames ``first`` .. ``last`` are in the file."""

    starts: tuple[F, ...]
    first: int
    last: int
    video_shift: F = F(0)
    audio_shift: F = F(0)
    seconds: float = 0.0  # label times run over [0, seconds)

    def frame_at(self, t_us: int) -> int:
        """The source frame on screen at label time ``t_us`` (µs): the last frame that starts
        less than 0.5 ms after it, and the first frame before the picture starts."""
        tau = F(int(t_us), 10**6) + self.video_shift + LATE
        i = int(np.searchsorted([float(s) for s in self.starts], float(tau), "left")) - 1
        # exact check on the neighbours (float search, exact comparison)
        while i + 1 < len(self.starts) and self.starts[i + 1] < tau:
            i += 1
        while i >= 0 and self.starts[i] >= tau:
            i -= 1
        return min(max(i, self.first), self.last)

    def label_times_us(self, hz: int = 6) -> np.ndarray:
        n = int(self.seconds * hz)
        return (np.arange(n) * 1e6 / hz).round().astype(np.int64)

    def audio_boundaries_s(self) -> list[float]:
        """Label times at which the tone changes (source second boundaries) inside the file."""
        out = []
        for k in range(1, 64):
            t = float(k - self.audio_shift)
            if 0.2 < t < self.seconds - 0.2:
                out.append(t)
        return out


def _audio_format(codec: str) -> str:
    formats = [f.name for f in av.codec.Codec(codec, "w").audio_formats or []]
    for want in ("fltp", "flt", "s16", "s16p"):
        if want in formats:
            return want
    return formats[0]


def _mux_audio(out, stream, seconds: float, pts0: int = 0) -> None:
    """``seconds`` of the tone sequence, the first sample at ``pts0`` (in 1/rate ticks)."""
    rate = stream.rate
    fmt = _audio_format(stream.codec_context.name)
    step = stream.codec_context.frame_size or 1024
    n = round(seconds * rate)
    t = np.arange(n) / rate
    k = np.floor(t + 1e-9).astype(np.int64)
    freq = np.array([tone_hz(int(v)) for v in range(k.max() + 1)])[k]
    phase = 2 * np.pi * np.cumsum(freq) / rate  # continuous phase across the changes
    wave = (0.3 * np.sin(phase)).astype(np.float32)
    for lo in range(0, n, step):
        chunk = wave[lo : lo + step]
        if fmt.startswith("s16"):
            arr = (chunk * 32767).astype(np.int16)[None, :]
        else:
            arr = chunk[None, :]
        af = av.AudioFrame.from_ndarray(arr, format=fmt, layout="mono")
        af.sample_rate, af.pts = rate, pts0 + lo
        out.mux(stream.encode(af))
    out.mux(stream.encode())


def write_av(
    path: Path,
    vcodec: str = "libx264",
    acodec: str | None = "aac",
    fps: F = F(25),
    seconds: float = 6.0,
    size: tuple[int, int] = SIZE,
    pix_fmt: str = "yuv420p",
    vopts: dict[str, str] | None = None,
    arate: int = 44100,
    video_offset_s: F = F(0),
    audio_offset_s: F = F(0),
    pts: list[int] | None = None,
    time_base: F | None = None,
) -> list[F]:
    """Write a coded clip; returns the source start time of each frame (exact)."""
    w, h = size
    time_base = time_base or 1 / fps
    pts = pts if pts is not None else list(range(round(seconds * fps)))
    starts = [p * time_base for p in pts]
    shift = video_offset_s / time_base
    assert shift.denominator == 1, f"offset {video_offset_s} is not a whole number of ticks"
    shift = int(shift)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(vcodec, rate=fps, options=vopts or {})
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = vs.time_base = time_base
        aus = None
        if acodec:
            aus = out.add_stream(acodec, rate=arate if acodec != "libopus" else 48000)
            aus.layout = "mono"
        for i, p in enumerate(pts):
            frame = av.VideoFrame.from_ndarray(badmedia.code_frame(i, size), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = p + shift
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        if aus is not None:  # as long as the picture, from the same start
            end = float(starts[-1] + time_base + video_offset_s - audio_offset_s)
            _mux_audio(out, aus, end, pts0=round(audio_offset_s * aus.rate))
    return starts


def remux_cut(src: Path, dst: Path, cut: F) -> None:
    """Copy ``src``'s packets from ``cut`` on without re-encoding, as ``ffmpeg -ss CUT -i SRC
    -c copy`` does: the video from the keyframe before the cut with negative times (so the edit
    list hides them), the audio from the packet that holds the cut."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        ivs, ias = inp.streams.video[0], inp.streams.audio[0]
        ovs, oas = out.add_stream_from_template(ivs), out.add_stream_from_template(ias)
        inp.seek(int(cut * 10**6), backward=True)
        for pkt in inp.demux(ivs, ias):
            if pkt.dts is None:
                continue
            tb = pkt.time_base
            if pkt.stream is ias:
                if (pkt.pts + pkt.duration) * tb <= cut:
                    continue
                pkt.stream = oas
            else:
                pkt.stream = ovs
            off = round(cut / tb)
            pkt.pts -= off
            pkt.dts -= off
            out.mux(pkt)


def _cfr(path, seconds=6.0, fps=F(25), **kw) -> Truth:
    starts = write_av(path, fps=fps, seconds=seconds, **kw)
    return Truth(tuple(starts), 0, len(starts) - 1, seconds=seconds - 0.25)


def h264_mp4(path: Path) -> Truth:
    return _cfr(path, vopts={"bf": "3", "g": "50"})


def hevc_bframes_mp4(path: Path) -> Truth:
    return _cfr(path, vcodec="libx265", vopts={"x265-params": "bframes=4:keyint=50:log-level=0"})


def hevc10_mkv(path: Path) -> Truth:
    return _cfr(path, vcodec="libx265", pix_fmt="yuv420p10le", acodec="libopus",
                vopts={"x265-params": "bframes=4:keyint=50:log-level=0"})


def vp9_webm(path: Path) -> Truth:
    return _cfr(path, vcodec="libvpx-vp9", acodec="libopus",
                vopts={"deadline": "realtime", "cpu-used": "8", "g": "50", "crf": "30"})


def av1_mkv(path: Path) -> Truth:
    return _cfr(path, vcodec="libsvtav1", acodec="libopus", vopts={"preset": "8", "g": "50", "crf": "5", "svtav1-params": "enable-tf=0"})


def mpeg4_ntsc_mov(path: Path) -> Truth:
    return _cfr(path, vcodec="mpeg4", fps=F(30000, 1001), vopts={"bf": "2", "qscale": "4"})


def prores_mov(path: Path) -> Truth:
    return _cfr(path, seconds=4.0, vcodec="prores_ks", pix_fmt="yuv422p10le",
                acodec="pcm_s16le", vopts={"profile": "0"})


CUT = F(33, 25)  # frame 33 of a 25 fps source (keyframes every second): not a keyframe


def cut_nonkey_mp4(path: Path) -> Truth:
    src = path.with_name(path.stem + ".src.mp4")
    starts = write_av(src, seconds=8.0, vopts={"bf": "3", "g": "25", "keyint_min": "25",
                                                "sc_threshold": "0"})
    remux_cut(src, path, CUT)
    src.unlink()
    return Truth(tuple(starts), 33, len(starts) - 1, video_shift=CUT, audio_shift=CUT,
                 seconds=8.0 - float(CUT) - 0.25)


DELAY = F(3, 2)


def editlist_delay_mp4(path: Path) -> Truth:
    """The video track starts 1.5 s after the sound (an edit list's empty edit)."""
    starts = write_av(path, seconds=5.0, video_offset_s=DELAY, time_base=F(1, 50),
                      pts=list(range(0, 250, 2)))
    return Truth(tuple(starts), 0, len(starts) - 1, video_shift=-DELAY, seconds=6.25)


def start_offset_mkv(path: Path) -> Truth:
    """Every stream starts at 1.5 s (a capture or a cut with kept timestamps)."""
    starts = write_av(path, seconds=5.0, video_offset_s=DELAY, audio_offset_s=DELAY,
                      acodec="libopus", time_base=F(1, 50), pts=list(range(0, 250, 2)))
    return Truth(tuple(starts), 0, len(starts) - 1, seconds=4.75)


def vfr_mkv(path: Path) -> Truth:
    pts = badmedia.vfr_pts(144)
    starts = write_av(path, fps=F(24), pts=pts, time_base=badmedia.VFR_TIME_BASE)
    end = float(starts[-1])
    return Truth(tuple(starts), 0, len(starts) - 1, seconds=end)


def h264_4k_mp4(path: Path) -> Truth:
    return _cfr(path, seconds=2.0, fps=F(24), size=(3840, 2160),
                vopts={"preset": "ultrafast", "bf": "2"})


CASES: dict[str, Callable[[Path], Truth]] = {
    "h264_mp4": h264_mp4,
    "hevc_bframes_mp4": hevc_bframes_mp4,
    "hevc10_mkv": hevc10_mkv,
    "vp9_webm": vp9_webm,
    "av1_mkv": av1_mkv,
    "mpeg4_ntsc_mov": mpeg4_ntsc_mov,
    "prores_mov": prores_mov,
    "cut_nonkey_mp4": cut_nonkey_mp4,
    "editlist_delay_mp4": editlist_delay_mp4,
    "start_offset_mkv": start_offset_mkv,
    "vfr_mkv": vfr_mkv,
    "h264_4k_mp4": h264_4k_mp4,
}


def write_cases(folder: Path, cases: list[str] | None = None) -> dict[str, tuple[Path, Truth]]:
    """Write ``cases`` (default: all) into ``folder`` in a child process; ``{case: (path, truth)}``.

    A child process, because decord bundles its own FFmpeg 4.1 and libvpx 6.4: once it is
    loaded, PyAV's libvpx-vp9 encoder binds to decord's libvpx and fails to open (seen here), so
    files are never written in a process that may have imported decord."""
    cases = list(CASES) if cases is None else cases
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, __file__, str(folder), *cases], check=True,
                   capture_output=True)
    truths = pickle.loads((folder / "truths.pkl").read_bytes())
    return {c: (folder / file_name(c), truths[c]) for c in cases}


def file_name(case: str) -> str:
    """``<case>.<ext>``: the extension is the case name's last part."""
    stem, ext = case.rsplit("_", 1)
    return f"{case}.{ext}"


def tone_change_times(audio: np.ndarray, sr: int, truth: Truth, search_s: float = 0.06):
    """Measured (label) time of each tone change in decoded ``audio``: where, near the expected
    boundary, the power at the next second's tone overtakes the power at the last one's (20 ms
    windows, 1 ms steps, Goertzel-style single-bin DFTs)."""
    win = int(0.02 * sr)
    n = np.arange(win)
    hann = np.hanning(win)
    out = []
    for t in truth.audio_boundaries_s():
        k = int(math.floor(t + float(truth.audio_shift) + 1e-9))
        f_before, f_after = tone_hz(k - 1), tone_hz(k)
        best = None
        for c in np.arange(t - search_s, t + search_s, 0.001):
            lo = int(round(c * sr)) - win // 2
            if lo < 0 or lo + win > len(audio):
                continue
            seg = audio[lo : lo + win] * hann
            p0 = abs(np.dot(seg, np.exp(-2j * np.pi * f_before * n / sr)))
            p1 = abs(np.dot(seg, np.exp(-2j * np.pi * f_after * n / sr)))
            if p1 > p0:
                best = c
                break
        out.append((t, best))
    return out


if __name__ == "__main__":  # python tests/mediamatrix.py FOLDER CASE...: write, pickle the truths
    import mediamatrix  # this file as a module, so that the pickled Truth names it

    out = Path(sys.argv[1])
    written = {c: mediamatrix.CASES[c](out / file_name(c)) for c in sys.argv[2:]}
    (out / "truths.pkl").write_bytes(pickle.dumps(written))
