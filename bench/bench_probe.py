"""Probe rate (eevflow.media.probe, what download_check runs per video): ``probe.audio: full``
(decode the whole audio track, the probe before issue 15) against ``ends`` (the first audio frames
and the last seconds after a seek, the default), on the same files:

* ``small``: the test suite's media (tests/badmedia.py kinds and tests/mediamatrix.py cases: a few
  seconds each, every codec, container and quirk the tests cover);
* ``long``: one 10-minute 1280 x 720 25 fps H.264 + AAC file written here with the ffmpeg CLI
  (testsrc2 + a sine, ``-preset veryfast -crf 28 -g 125``: about YouTube's 720p bit rate and a
  5 s keyframe interval), an EEV-length-and-more video.

Prints probes/s, seconds per file and seconds per hour of video for each set and mode (median of
``--repeat`` passes, after one warm-up pass that also fills the page cache), and the ratio.

    python bench/bench_probe.py --work /tmp/probe-bench --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import badmedia  # noqa: E402
import mediamatrix  # noqa: E402

from eevflow.media import AUDIO_MODES, probe  # noqa: E402


def write_long(path: Path, seconds: int) -> Path:
    """A ``seconds`` s 720p H.264 + AAC mp4 (skipped when it is already there)."""
    if path.exists():
        return path
    tmp = path.with_suffix(".part.mp4")
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", str(seconds),
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-g", "125",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", str(tmp)],
        check=True,
    )
    tmp.rename(path)
    return path


def write_small(folder: Path) -> list[Path]:
    """The test suite's media (written once)."""
    done = folder / ".done"
    paths = [folder / f"{kind}.mp4" for kind in badmedia.KINDS]
    matrix = folder / "matrix"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        for kind, path in zip(badmedia.KINDS, paths):
            badmedia.KINDS[kind](path)
        mediamatrix.write_cases(matrix)
        done.touch()
    return paths + sorted(p for p in matrix.iterdir() if p.is_file())


def time_pass(paths: list[Path], audio: str) -> tuple[float, list]:
    t0 = time.perf_counter()
    rows = [probe(p.stem, p, audio=audio) for p in paths]
    return time.perf_counter() - t0, rows


def bench(name: str, paths: list[Path], repeat: int) -> dict[str, float]:
    medians, rows = {}, {}
    for audio in AUDIO_MODES:
        time_pass(paths, audio)  # warm-up: page cache, codec initialisation
        runs = [time_pass(paths, audio) for _ in range(repeat)]
        medians[audio] = statistics.median(t for t, _ in runs)
        rows[audio] = runs[-1][1]
        print(f"  {name} {audio}: {', '.join(f'{t:.3f}' for t, _ in runs)} s per pass")
    same = all(
        (a.status, a.audio_duration_s) == (b.status, b.audio_duration_s)
        or (a.status == b.status and a.audio_duration_s != a.audio_duration_s)
        for a, b in zip(rows["ends"], rows["full"])
    )
    hours = sum(r.duration_s for r in rows["full"] if r.duration_s == r.duration_s) / 3600
    print(f"{name}: {len(paths)} files, {hours * 3600:.0f} s of video; same statuses and audio "
          f"ends in both modes: {same}")
    for audio in AUDIO_MODES:
        t = medians[audio]
        print(f"  {audio:4s}: {len(paths) / t:7.1f} probes/s, {t / len(paths):.3f} s per file, "
              f"{t / hours:.1f} s per hour of video")
    print(f"  full / ends: {medians['full'] / medians['ends']:.1f}x")
    return medians


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--work", default="/tmp/probe-bench")
    ap.add_argument("--long-s", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    small = write_small(work / "small")
    long = write_long(work / f"long_{args.long_s}s_720p.mp4", args.long_s)
    print(f"media ready in {time.perf_counter() - t0:.0f} s "
          f"(long file {long.stat().st_size / 2**20:.0f} MiB)")
    bench("small", small, args.repeat)
    bench("long", [long], args.repeat)


if __name__ == "__main__":
    main()
