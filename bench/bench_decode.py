"""6 Hz frame decode: eevflow's decord path against the ffmpeg command-line pipe, and peak memory.

Writes (once, cached under --work) an H.264 + AAC test file of --seconds at --size and --fps with
PyAV, then in separate child processes (so each peak RSS is its own):

* ``decord``: ``eevflow.media.decode_video`` at 6 Hz label times, the workflow's exact path
  (frame on screen at each time, scaled with the aspect kept, zero-padded to 224 x 224, written
  chunk by chunk to a memory-mapped .npy; plus the 16 kHz audio track);
* ``ffmpeg``: ``ffmpeg -i FILE -vf fps=6,scale=...,pad=224:224 -f rawvideo -pix_fmt rgb24 pipe:``
  read from stdout into the same kind of memory-mapped .npy (frames only: it does less work).

Each is reported as label rows (frames out) per second, wall clock, with the child's peak RSS.

    python bench/bench_decode.py --seconds 600 --size 1280x720 --fps 25 --repeat 2
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


def make_video(path: Path, seconds: float, size: tuple[int, int], fps: int) -> None:
    """Moving gradient + noise blocks (so H.264 has real work), and a tone with noise."""
    import av

    w, h = size
    n = int(seconds * fps)
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (xx + yy).astype(np.int64)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "28"})
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.time_base = fractions.Fraction(1, fps)
        aus = out.add_stream("aac", rate=44100)
        aus.layout = "stereo"
        blocks = rng.integers(0, 255, (n // fps + 1, h // 16, w // 16), dtype=np.uint8)
        for i in range(n):
            img = np.repeat(np.repeat(blocks[i // fps], 16, 0), 16, 1)
            img = np.pad(img, ((0, h - img.shape[0]), (0, w - img.shape[1])))
            g = ((base + i * 3) % 256).astype(np.uint8) // 2 + img // 2
            frame = av.VideoFrame.from_ndarray(np.stack([g, g[::-1], g[:, ::-1]], -1), "rgb24")
            frame.pts = i
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        sr, hop = 44100, 1024
        total = int(seconds * sr)
        for lo in range(0, total, hop):
            t = (np.arange(lo, min(lo + hop, total)) / sr)
            wave = 0.2 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))
            af = av.AudioFrame.from_ndarray(
                np.stack([wave, wave]).astype(np.float32), format="fltp", layout="stereo"
            )
            af.sample_rate, af.pts = sr, lo
            for pkt in aus.encode(af):
                out.mux(pkt)
        for pkt in aus.encode():
            out.mux(pkt)
    tmp.rename(path)


def child_decord(video: str, out_dir: str, seconds: float) -> dict:
    from eevflow.decoding import decode_video

    ts = (np.arange(int(seconds * 6)) * 1e6 / 6).round().astype(np.int64)
    d = Path(out_dir)
    t0 = time.perf_counter()
    info = decode_video("bench", video, ts, d / "f.npy", d / "a.npy", d / "m.json")
    return {"rows": len(ts), "seconds": time.perf_counter() - t0, "audio_samples": info.n_samples}


def child_ffmpeg(video: str, out_dir: str, seconds: float, size: tuple[int, int]) -> dict:
    from eevflow.decoding import letterbox_shape

    new_w, new_h = letterbox_shape(*size, 224)
    vf = f"fps=6,scale={new_w}:{new_h},pad=224:224:(ow-iw)/2:(oh-ih)/2"
    cmd = ["ffmpeg", "-v", "error", "-nostdin", "-i", video, "-vf", vf, "-an",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
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
    return {"rows": n, "seconds": time.perf_counter() - t0}


def run_child(kind: str, args, video: Path) -> dict:
    work = Path(args.work) / f"out-{kind}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    code = (
        "import json, resource, sys; sys.path.insert(0, %r); sys.path.insert(0, %r);"
        "import bench_decode as b;"
        "r = b.child_%s(%r, %r, %r%s);"
        "r['peak_rss_mib'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024;"
        "r['children_peak_rss_mib'] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024;"
        "print(json.dumps(r))"
    ) % (str(REPO), str(REPO / "bench"), kind, str(video), str(work), args.seconds,
         f", {tuple(args.size)!r}" if kind == "ffmpeg" else "")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shutil.rmtree(work, ignore_errors=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=600)
    ap.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split("x")),
                    default=(1280, 720))
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--work", default="/tmp/eevflow-bench-decode")
    args = ap.parse_args()
    Path(args.work).mkdir(parents=True, exist_ok=True)
    w, h = args.size
    video = Path(args.work) / f"test-{int(args.seconds)}s-{w}x{h}-{args.fps}fps.mp4"
    if not video.exists():
        t0 = time.perf_counter()
        make_video(video, args.seconds, args.size, args.fps)
        print(f"wrote {video} ({video.stat().st_size / 2**20:.0f} MiB) in "
              f"{time.perf_counter() - t0:.0f} s")
    print(f"machine: {platform.platform()}, cpus={os.cpu_count()}; "
          f"file: {args.seconds:.0f} s, {w}x{h}, {args.fps} fps, H.264 + AAC stereo 44.1 kHz")
    ffmpeg = shutil.which("ffmpeg")
    kinds = ["decord"] + (["ffmpeg"] if ffmpeg else [])
    if not ffmpeg:
        print("ffmpeg not on PATH: only decord measured (apt-get install ffmpeg)")
    results = {k: [] for k in kinds}
    for _ in range(args.repeat):
        for k in kinds:
            results[k].append(run_child(k, args, video))
    for k in kinds:
        rates = [r["rows"] / r["seconds"] for r in results[k]]
        peak = max(max(r["peak_rss_mib"], r["children_peak_rss_mib"]) for r in results[k])
        print(f"{k:7s} rows={results[k][0]['rows']} time={statistics.median(r['seconds'] for r in results[k]):.1f} s "
              f"rows/s={statistics.median(rates):.1f} peak_rss={peak:.0f} MiB")
    if len(kinds) == 2:
        ratio = statistics.median(r["rows"] / r["seconds"] for r in results["decord"]) / \
            statistics.median(r["rows"] / r["seconds"] for r in results["ffmpeg"])
        print(f"decord / ffmpeg throughput ratio: {ratio:.2f}")


if __name__ == "__main__":
    main()
