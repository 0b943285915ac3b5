"""6 Hz decode per codec: eevflow's decode (PyAV, and decord where it is used) against the ffmpeg
command-line pipe on the same files, and the peak memory of a long 720p decode.

Writes (once, cached under --work) one file per codec with PyAV's encoders: moving gradient + noise
blocks (so the codecs have real work) and a stereo tone, --seconds long (the 10-minute H.264 file
uses --long-seconds). Then, in separate child processes (so each peak RSS is its own, read from
VmHWM: ru_maxrss is carried over from the parent across exec):

* ``pyav``: ``eevflow.decoding.decode_video`` at 6 Hz label times, the workflow's exact path
  (frame on screen at each time by presentation timestamps, scaled with the aspect kept,
  zero-padded to 224 x 224, written to a memory-mapped .npy; plus the 16 kHz mono audio track),
  with ``--threads`` decoder threads (the decode rule's ``threads``);
* ``decord``: the same with ``backend="decord"`` (H.264 only: other files go through PyAV);
* ``ffmpeg``: ``ffmpeg -threads T -i FILE -vf fps=6,scale=...,pad=224:224 -f rawvideo
  -pix_fmt rgb24 pipe:`` read into the same kind of memory-mapped .npy (frames only, and the fps
  filter picks frames by rounding, not the frame on screen: it does less work).

Each is reported as label rows (frames out) per second, wall clock, median of --repeat runs.

    python bench/bench_decode.py --seconds 60 --long-seconds 600 --repeat 2
"""

from __future__ import annotations

import argparse
import fractions
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
# name -> (extension, video codec, pix_fmt, encoder options, audio codec)
CODECS = {
    "h264": (".mp4", "libx264", "yuv420p", {"preset": "ultrafast", "crf": "28"}, "aac"),
    "hevc": (".mp4", "libx265", "yuv420p",
             {"preset": "ultrafast", "x265-params": "bframes=4:log-level=0"}, "aac"),
    "vp9": (".webm", "libvpx-vp9", "yuv420p",
            {"deadline": "realtime", "cpu-used": "8", "crf": "36", "b": "0"}, "libopus"),
    "av1": (".mkv", "libsvtav1", "yuv420p", {"preset": "12"}, "libopus"),
    "mpeg4": (".mov", "mpeg4", "yuv420p", {"bf": "2", "qscale": "5"}, "aac"),
    "prores": (".mov", "prores_ks", "yuv422p10le", {"profile": "0"}, "pcm_s16le"),
}


def make_video(path: Path, seconds: float, size: tuple[int, int], fps: int, codec: str) -> None:
    """Moving gradient + noise blocks and a stereo tone with noise, in ``codec``'s file."""
    import av

    ext, vcodec, pix_fmt, opts, acodec = CODECS[codec]
    w, h = size
    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx + yy).astype(np.int64)
    tmp = path.with_name(path.stem + ".part" + ext)
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream(vcodec, rate=fps, options=opts)
        vs.width, vs.height, vs.pix_fmt = w, h, pix_fmt
        vs.codec_context.time_base = fractions.Fraction(1, fps)
        sr = 48000 if acodec == "libopus" else 44100
        aus = out.add_stream(acodec, rate=sr)
        aus.layout = "stereo"
        blocks = rng.integers(0, 255, (n // fps + 1, h // 16, w // 16), dtype=np.uint8)
        for i in range(n):
            img = np.repeat(np.repeat(blocks[i // fps], 16, 0), 16, 1)
            img = np.pad(img, ((0, h - img.shape[0]), (0, w - img.shape[1])))
            g = ((base + i * 3) % 256).astype(np.uint8) // 2 + img // 2
            frame = av.VideoFrame.from_ndarray(np.stack([g, g[::-1], g[:, ::-1]], -1), "rgb24")
            frame.pts = i
            out.mux(vs.encode(frame))
        out.mux(vs.encode())
        fmt = "s16" if acodec == "pcm_s16le" else ("flt" if acodec == "libopus" else "fltp")
        hop = aus.codec_context.frame_size or 1024
        total = int(seconds * sr)
        for lo in range(0, total, hop):
            t = np.arange(lo, min(lo + hop, total)) / sr
            wave = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
            two = np.stack([wave, wave]).astype(np.float32)
            if fmt == "s16":
                arr = (two.T * 32767).astype(np.int16).reshape(1, -1)
            elif fmt == "flt":
                arr = two.T.reshape(1, -1)
            else:
                arr = two
            af = av.AudioFrame.from_ndarray(arr, format=fmt, layout="stereo")
            af.sample_rate, af.pts = sr, lo
            out.mux(aus.encode(af))
        out.mux(aus.encode())
    tmp.rename(path)


def _hwm_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child_eevflow(video: str, out_dir: str, seconds: float, backend: str, threads: int) -> dict:
    from eevflow.decoding import decode_video

    ts = (np.arange(int(seconds * 6)) * 1e6 / 6).round().astype(np.int64)
    d = Path(out_dir)
    t0 = time.perf_counter()
    info = decode_video("bench", video, ts, d / "f.npy", d / "a.npy", d / "m.json",
                        backend=backend, threads=threads)
    return {"rows": len(ts), "seconds": time.perf_counter() - t0, "decoder": info.decoder,
            "audio_samples": info.n_samples, "peak_rss_mib": _hwm_mib()}


def child_ffmpeg(video: str, out_dir: str, seconds: float, size: tuple[int, int],
                 threads: int) -> dict:
    from eevflow.streams import letterbox_shape

    new_w, new_h = letterbox_shape(*size, 224)
    vf = f"fps=6,scale={new_w}:{new_h},pad=224:224:(ow-iw)/2:(oh-ih)/2"
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-threads", str(threads), "-i", video,
           "-vf", vf, "-an", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    n_max = int(seconds * 6) + 2
    frame_bytes = 224 * 224 * 3
    t0 = time.perf_counter()
    out = np.lib.format.open_memmap(
        Path(out_dir) / "ff.npy", mode="w+", dtype=np.uint8, shape=(n_max, 224, 224, 3)
    )
    n = 0
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, bufsize=frame_bytes * 16) as proc:
        while True:
            buf = proc.stdout.read(frame_bytes * 16)
            if not buf:
                break
            k = len(buf) // frame_bytes
            out[n : n + k] = np.frombuffer(buf[: k * frame_bytes], np.uint8).reshape(k, 224, 224, 3)
            n += k
    out.flush()
    if proc.returncode:
        raise RuntimeError(f"ffmpeg exited {proc.returncode}")
    import resource

    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # ffmpeg's own peak
    return {"rows": n, "seconds": time.perf_counter() - t0, "peak_rss_mib": max(_hwm_mib(), child)}


def run_child(kind: str, video: Path, seconds: float, args) -> dict:
    work = Path(args.work) / f"out-{kind}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if kind == "ffmpeg":
        call = f"b.child_ffmpeg({str(video)!r}, {str(work)!r}, {seconds!r}, " \
               f"{tuple(args.size)!r}, {args.threads})"
    else:
        call = f"b.child_eevflow({str(video)!r}, {str(work)!r}, {seconds!r}, {kind!r}, " \
               f"{args.threads})"
    code = (f"import json, sys; sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'bench')!r}];"
            f"import bench_decode as b; print(json.dumps({call}))")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_file(label: str, video: Path, seconds: float, kinds: list[str], args) -> dict:
    results = {k: [] for k in kinds}
    for _ in range(args.repeat):
        for k in kinds:
            results[k].append(run_child(k, video, seconds, args))
    rates = {k: statistics.median(r["rows"] / r["seconds"] for r in v) for k, v in results.items()}
    peaks = {k: max(r["peak_rss_mib"] for r in v) for k, v in results.items()}
    line = [f"{label:14s}"]
    for k in kinds:
        extra = f" [{results[k][0]['decoder']}]" if k == "decord" else ""
        line.append(f"{k} {rates[k]:6.1f} rows/s{extra} ({peaks[k]:.0f} MiB)")
    if "ffmpeg" in rates:
        line.append(f"pyav/ffmpeg {rates['pyav'] / rates['ffmpeg']:.2f}")
        if "decord" in rates:
            line.append(f"decord/ffmpeg {rates['decord'] / rates['ffmpeg']:.2f}")
    print(" | ".join(line), flush=True)
    return {"rates": rates, "peaks": peaks}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60, help="length of the per-codec files")
    ap.add_argument("--long-seconds", type=float, default=600,
                    help="length of the long H.264 file (peak memory); 0 to skip")
    ap.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")),
                    default=(1280, 720))
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--codecs", default=",".join(CODECS))
    ap.add_argument("--work", default="/tmp/eevflow-bench-decode")
    ap.add_argument("--write-only", action="store_true", help="write the files, measure nothing")
    args = ap.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    w, h = args.size
    print(f"machine: {platform.platform()}, cpus={os.cpu_count()}; {w}x{h} {args.fps} fps, "
          f"threads={args.threads}, repeat={args.repeat}")
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        print("ffmpeg not on PATH: only eevflow measured (apt-get install ffmpeg)")
    files = [(c, args.seconds) for c in args.codecs.split(",")]
    if args.long_seconds:
        files.append(("h264", args.long_seconds))
    for codec, seconds in files:
        ext = CODECS[codec][0]
        video = Path(args.work) / f"{codec}-{int(seconds)}s-{w}x{h}-{args.fps}fps{ext}"
        if not video.exists():
            t0 = time.perf_counter()
            make_video(video, seconds, args.size, args.fps, codec)
            print(f"wrote {video.name} ({video.stat().st_size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
        if args.write_only:
            continue
        kinds = ["pyav"] + (["decord"] if codec == "h264" else []) + (["ffmpeg"] if ffmpeg else [])
        bench_file(f"{codec} {int(seconds)} s", video, seconds, kinds, args)


if __name__ == "__main__":
    main()
