"""TPF's audio path against eevflow's: how different are the 16 kHz tracks, per equal chunk?

The EEV 2021 winner's code (th2l/EvokedExpr-TPF, ``read_video(get_audio=True)``) loads a video's
sound with ``librosa.load(path)`` (the file's own rate decoded by FFmpeg to 16-bit PCM through
audioread, averaged to mono, resampled to librosa's default 22,050 Hz), then
``librosa.resample(audio, 22050, 16000)``, zero-pads the track to a multiple of N (the video's
label rows) and cuts it into N equal chunks for TRILL. eevflow decodes straight to 16 kHz mono with
FFmpeg's resampler by default (``decode.audio_path: ffmpeg``, ``eevflow.audio_path.decode_audio``,
the decode job's code); ``decode.audio_path: tpf_librosa`` (``eevflow.audio_path.decode_audio_tpf``)
follows TPF's chain, and the last table compares it with the ``tpf-now`` rebuild below.

TPF's path is rebuilt here three ways:

* ``tpf-2021``: librosa's 2021 default resampler (``res_type="kaiser_best"``, resampy; librosa
  0.8) for both steps; only when resampy imports (``--resampy-path`` adds a folder to sys.path);
* ``tpf-now``: librosa's current default (``soxr_hq``) for both steps;
* ``pyav22k``: PyAV's resampler to 22,050 Hz mono, then ``librosa.resample`` to 16 kHz.

Each is aligned to eevflow's track (the integer lag of highest correlation within +-32 samples) and
cut, as TPF cuts it, into N = floor(6 x duration) equal chunks. Per chunk: the relative RMS
difference ``rms(tpf - eev) / rms(eev)`` and the correlation (over chunks louder than -60 dBFS),
and the change of the chunk's log-mel embedding (``eevflow.features.logmel.LogMelExtractor``,
``window: equal_chunks``: TRILL's front end, 64 bands 125-7500 Hz, averaged over the chunk) as a
fraction of the between-row spread (the RMS distance of eevflow's row embeddings from their mean).

Inputs: two demo videos (eevflow.demo: tones and noise bands over a noise floor; one at 44.1 kHz,
one at 48 kHz) and, where installed, real recordings muxed into MP4 (AAC at their own rate, as
a YouTube file carries its sound): speech (alsa-utils, /usr/share/sounds/alsa, 48 kHz) and music
(drascula-music, /usr/share/scummvm/drascula/audio, 44.1 kHz stereo Vorbis); or ``--files``.

    python bench/bench_tpf_audio.py --resampy-path /tmp/resampy_pkg
"""

from __future__ import annotations

import argparse
import fractions
import glob
import importlib.util
import os
import platform
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SR = 16000
TPF_SR = 22050  # librosa.load's default rate
ROW_HZ = 6
ACTIVE_RMS = 1e-3  # -60 dBFS: chunks quieter than this are left out of the waveform figures
SPEECH = "/usr/share/sounds/alsa"
MUSIC = "/usr/share/scummvm/drascula/audio/track*.ogg"


# ------------------------------------------------------------------------------------------------
# inputs


def demo_videos(work: Path) -> list[Path]:
    """Two 20 s demo videos, the first planned at 44.1 kHz and at 48 kHz (train split IDs)."""
    from eevflow.demo.spec import DemoSpec, demo_video_ids, plan_video
    from eevflow.demo.write import generate_video

    spec = DemoSpec(min_seconds=20.0, max_seconds=20.0)
    out, want = [], [44100, 48000]
    for vid in demo_video_ids("train", 64):
        rate = plan_video(vid, spec, "train")["sample_rate"]
        if rate in want:
            want.remove(rate)
            path = work / f"demo_{rate}_{vid}.mp4"
            if not path.exists():
                generate_video(path, vid, spec, "train")
            out.append(path)
        if not want:
            break
    return out


def _read_all(path: str) -> tuple[np.ndarray, int, str]:
    """(channels, samples) float32 at the file's own rate, the rate, the layout name."""
    import av

    with av.open(path) as c:
        s = c.streams.audio[0]
        rate, layout = s.rate, "mono" if s.channels == 1 else "stereo"
        rs = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        parts = [o.to_ndarray() for f in c.decode(s) for o in rs.resample(f)]
        parts += [o.to_ndarray() for o in rs.resample(None)]
    return np.concatenate(parts, axis=1).astype(np.float32), rate, layout


def mux_recording(wave: np.ndarray, rate: int, layout: str, path: Path) -> Path:
    """``wave`` (channels, samples) as AAC at ``rate`` in an MP4 with a black 2 fps video track."""
    import av

    seconds = wave.shape[1] / rate
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=2)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        vs.codec_context.time_base = fractions.Fraction(1, 2)
        aus = out.add_stream("aac", rate=rate, layout=layout)
        aus.codec_context.bit_rate = 128000
        for i in range(int(seconds * 2)):
            vf = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")
            vf.pts = i
            out.mux(vs.encode(vf))
        out.mux(vs.encode())
        for lo in range(0, wave.shape[1], 1024):
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(wave[:, lo : lo + 1024]),
                                            format="fltp", layout=layout)
            af.sample_rate, af.pts = rate, lo
            out.mux(aus.encode(af))
        out.mux(aus.encode())
    return path


def real_videos(work: Path, music_seconds: float) -> list[Path]:
    out = []
    speech = sorted(glob.glob(os.path.join(SPEECH, "*.wav")))
    if speech:
        path = work / "speech_alsa_48k.mp4"
        if not path.exists():
            parts = [_read_all(p) for p in speech]
            rate, layout = parts[0][1], parts[0][2]
            assert all(p[1] == rate and p[2] == layout for p in parts), "mixed speech formats"
            gap = np.zeros((parts[0][0].shape[0], rate // 4), np.float32)
            wave = np.concatenate([x for p in parts for x in (p[0], gap)], axis=1)
            mux_recording(wave, rate, layout, path)
        out.append(path)
    music = sorted(glob.glob(MUSIC))
    if music:
        path = work / "music_drascula_44k.mp4"
        if not path.exists():
            wave, rate, layout = _read_all(music[0])
            start = int(min(30.0, wave.shape[1] / rate / 4) * rate)  # skip a quiet intro
            mux_recording(wave[:, start : start + int(music_seconds * rate)], rate, layout, path)
        out.append(path)
    return out


# ------------------------------------------------------------------------------------------------
# the two paths


def eevflow_track(path: Path, audio_path: str = "ffmpeg") -> np.ndarray:
    import av

    from eevflow.audio_path import audio_decoder
    from eevflow.streams import read_streams

    with av.open(str(path)) as c:
        origin = read_streams(c).start_time_s
    return audio_decoder(audio_path)(str(path), SR, origin)[0]


def tpf_track(path: Path, how: str) -> np.ndarray:
    import av
    import librosa

    if how == "pyav22k":
        rs = av.AudioResampler(format="flt", layout="mono", rate=TPF_SR)
        with av.open(str(path)) as c:
            s = c.streams.audio[0]
            parts = [o.to_ndarray().reshape(-1) for f in c.decode(s) for o in rs.resample(f)]
            parts += [o.to_ndarray().reshape(-1) for o in rs.resample(None)]
        y = np.concatenate(parts).astype(np.float32)
        return librosa.resample(y, orig_sr=TPF_SR, target_sr=SR, res_type="soxr_hq")
    res_type = {"tpf-2021": "kaiser_best", "tpf-now": "soxr_hq"}[how]
    # audioread's FFmpeg backend: 16-bit PCM at the file's rate and channels; librosa then
    # averages the channels and resamples to 22,050 Hz
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        rate, layout = s.rate, s.layout.name
        rs = av.AudioResampler(format="s16p", layout=layout, rate=rate)
        parts = [o.to_ndarray() for f in c.decode(s) for o in rs.resample(f)]
        parts += [o.to_ndarray() for o in rs.resample(None)]
    pcm = np.concatenate(parts, axis=1).astype(np.float32) / 32768.0
    y = pcm.mean(axis=0)
    y = librosa.resample(y, orig_sr=rate, target_sr=TPF_SR, res_type=res_type)
    return librosa.resample(y, orig_sr=TPF_SR, target_sr=SR, res_type=res_type)


def align(ref: np.ndarray, other: np.ndarray, max_lag: int = 32) -> tuple[np.ndarray, int]:
    """``other`` shifted by the lag (samples, + = other is late) that best matches ``ref``."""
    n = min(len(ref), len(other)) - 2 * max_lag
    a = ref[max_lag : max_lag + n].astype(np.float64)
    best, lag = -np.inf, 0
    for k in range(-max_lag, max_lag + 1):
        b = other[max_lag + k : max_lag + k + n].astype(np.float64)
        c = float(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30)
        if c > best:
            best, lag = c, k
    shifted = other[lag:] if lag >= 0 else np.concatenate([np.zeros(-lag, other.dtype), other])
    return shifted, lag


# ------------------------------------------------------------------------------------------------
# per-chunk figures


def logmel_rows(audio: np.ndarray, n_rows: int, extractor) -> np.ndarray:
    from eevflow.decoding import Decoded, DecodeInfo

    ts = (np.arange(n_rows) * 1e6 / ROW_HZ).round().astype(int).tolist()
    info = DecodeInfo(video_id="x", fps=0.0, n_frames=0, width=0, height=0, frame_size=0,
                      sample_rate=SR, n_samples=len(audio), timestamps_us=ts, frame_indices=[])
    return extractor.embed(Decoded(info=info, frames=None, audio=audio))


def compare(eev: np.ndarray, tpf: np.ndarray, extractor) -> dict:
    from eevflow.features.logmel import audio_windows

    tpf, lag = align(eev, tpf)
    n = min(len(eev), len(tpf))
    eev, tpf = eev[:n].astype(np.float64), tpf[:n].astype(np.float64)
    n_rows = int(n / SR * ROW_HZ)
    starts, ends = audio_windows(n, np.zeros(n_rows), SR, "equal_chunks")
    pad = int(ends[-1]) - n
    e, t = np.pad(eev, (0, pad)), np.pad(tpf, (0, pad))
    rel, corr, active = [], [], 0
    for lo, hi in zip(starts, ends):
        a, b = e[lo:hi], t[lo:hi]
        ra = np.sqrt(np.mean(a * a))
        if ra < ACTIVE_RMS:
            continue
        active += 1
        rel.append(np.sqrt(np.mean((b - a) ** 2)) / ra)
        corr.append(np.corrcoef(a, b)[0, 1])
    emb_e = logmel_rows(e.astype(np.float32), n_rows, extractor).astype(np.float64)
    emb_t = logmel_rows(t.astype(np.float32), n_rows, extractor).astype(np.float64)
    spread = np.sqrt(np.mean(np.sum((emb_e - emb_e.mean(0)) ** 2, axis=1)))
    diff = emb_t - emb_e
    change = np.linalg.norm(diff, axis=1) / spread
    offset = diff.mean(axis=0)  # the part of the change that is the same on every row, per band
    varying = np.linalg.norm(diff - offset, axis=1) / spread
    worst = int(np.argmax(np.abs(offset)))
    gain_db = 20 * np.log10(np.sqrt(np.mean(tpf**2)) / np.sqrt(np.mean(eev**2)))
    return {
        "lag": lag, "rows": n_rows, "active": active, "gain_db": gain_db,
        "track_rel": np.sqrt(np.mean((tpf - eev) ** 2) / np.mean(eev**2)),
        "rel_med": np.median(rel), "rel_p95": np.percentile(rel, 95),
        "corr_med": np.median(corr), "corr_min": np.min(corr),
        "emb_med": np.median(change), "emb_p95": np.percentile(change, 95),
        "emb_max": np.max(change), "spread": spread, "var_med": np.median(varying),
        "var_max": np.max(varying), "worst_band": worst, "worst_off": offset[worst],
        "top3": np.linalg.norm(offset[-3:]) / (np.linalg.norm(offset) + 1e-30),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/eevflow-bench-tpf-audio"))
    parser.add_argument("--files", nargs="*", type=Path, help="media files instead of the defaults")
    parser.add_argument("--music-seconds", type=float, default=60.0)
    parser.add_argument("--resampy-path", help="a folder holding resampy (for tpf-2021)")
    args = parser.parse_args()
    if args.resampy_path:
        sys.path.insert(0, args.resampy_path)
    args.work.mkdir(parents=True, exist_ok=True)
    files = args.files or demo_videos(args.work) + real_videos(args.work, args.music_seconds)

    import librosa

    from eevflow.features.logmel import LogMelExtractor

    ways = ["tpf-now", "pyav22k"]
    if importlib.util.find_spec("resampy"):
        ways.insert(0, "tpf-2021")
    else:
        print("resampy not importable: tpf-2021 (kaiser_best) skipped")
    extractor = LogMelExtractor("logmel64", {"window": "equal_chunks"})
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, librosa {librosa.__version__}")
    head = (f"{'file':<24} {'TPF path':<9} {'rows':>4} {'lag':>3} {'gain dB':>7} {'track':>7} "
            f"{'rel med':>7} {'rel p95':>7} {'corr med':>8} {'corr min':>8} "
            f"{'emb med':>7} {'emb p95':>7} {'emb max':>7} {'var med':>7} {'var max':>7} "
            f"{'worst band':>10} {'top3':>5}")
    print(head)
    print("-" * len(head))
    rebuilt = {}
    for path in files:
        eev = eevflow_track(path)
        for how in ways:
            tpf = tpf_track(path, how)
            if how == "tpf-now":
                rebuilt[path] = tpf
            r = compare(eev, tpf, extractor)
            print(f"{path.stem[:24]:<24} {how:<9} {r['rows']:>4} {r['lag']:>3} "
                  f"{r['gain_db']:>7.2f} {r['track_rel']:>7.2%} {r['rel_med']:>7.2%} "
                  f"{r['rel_p95']:>7.2%} {r['corr_med']:>8.5f} {r['corr_min']:>8.5f} "
                  f"{r['emb_med']:>7.2%} {r['emb_p95']:>7.2%} {r['emb_max']:>7.2%} "
                  f"{r['var_med']:>7.2%} {r['var_max']:>7.2%} "
                  f"{r['worst_band']:>3}:{r['worst_off']:>+6.3f} {r['top3']:>5.0%}")
    print("gain: TPF's level over eevflow's; rel: rms(tpf - eevflow) / rms(eevflow) per chunk\n"
          "(chunks above -60 dBFS), track: the same over the whole track; corr: per chunk;\n"
          "emb: |logmel(tpf) - logmel(eevflow)| per chunk over the between-row spread of\n"
          "eevflow's rows; var: the same after taking away the mean change of each band (the\n"
          "part that differs between rows); worst band: the band (0-63, 125-7500 Hz) of largest\n"
          "mean change, and that change (log power); top3: share of the mean change in bands\n"
          "61-63 (6.4-7.5 kHz)\n")
    print("eevflow's decode.audio_path: tpf_librosa against the tpf-now rebuild")
    head = (f"{'file':<24} {'len diff':>8} {'lag':>3} {'gain dB':>8} {'max |diff|':>10} "
            f"{'track rel':>9} {'emb max':>8}")
    print(head)
    print("-" * len(head))
    for path, ref in rebuilt.items():
        got = eevflow_track(path, "tpf_librosa")
        r = compare(ref, got, extractor)
        n = min(len(ref), len(got))
        print(f"{path.stem[:24]:<24} {len(got) - len(ref):>8} {r['lag']:>3} {r['gain_db']:>8.4f} "
              f"{np.abs(got[:n] - ref[:n]).max():>10.2e} {r['track_rel']:>9.4%} "
              f"{r['emb_max']:>8.4%}")
    print("len diff: eevflow's samples minus the rebuild's (librosa rounds each step's length\n"
          "up; eevflow keeps the ffmpeg path's length); the rest as above, eevflow's track in\n"
          "the place of TPF's and the rebuild in eevflow's (emb: over the rebuild's spread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
