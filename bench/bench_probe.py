"""Probe rate (eevflow.media.probe, what download_check runs per video), on the same files:

* ``before``: the probe before issue 15 (eevflow/media.py at commit 82180ea, read with ``git show``
  into the work folder): the whole audio track decoded, the last frame found from 12 s before the
  end;
* ``full``: ``probe.audio: full`` (the whole audio track) with the last frame found from the last
  keyframe;
* ``ends``: ``probe.audio: ends``, the default (the audio's first frames and its last seconds after
  a seek), with the last frame found from the last keyframe.

The files:

* ``small``: the test suite's media (tests/badmedia.py kinds and tests/mediamatrix.py cases: a few
  seconds each, every codec, container and quirk the tests cover);
* ``long``: one 10-minute 1280 x 720 25 fps H.264 + AAC file written here with the ffmpeg CLI
  (testsrc2 + a sine, ``-preset veryfast -crf 28 -g 125``: about YouTube's 720p bit rate and a
  5 s keyframe interval), an EEV-length-and-more video.

Prints probes/s, seconds per file and seconds per hour of video for each set and probe (median of
``--repeat`` passes, after one warm-up pass that also fills the page cache), the ratios, and
whether the rows (every field) are the same as the old probe's.

    python bench/bench_probe.py --work /tmp/probe-bench --repeat 3
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import badmedia  # noqa: E402
import mediamatrix  # noqa: E402

from eevflow.media import probe  # noqa: E402

BEFORE = "82180ea"  # the last commit before issue 15's probe


def old_probe(work: Path):
    """``probe`` of eevflow/media.py at ``BEFORE``, or None where git cannot show it."""
    src = subprocess.run(["git", "-C", str(REPO), "show", f"{BEFORE}:eevflow/media.py"],
                         capture_output=True, text=True)
    if src.returncode:
        print(f"no 'before' probe: git show {BEFORE} failed: {src.stderr.strip()}")
        return None
    path = work / "media_before.py"
    path.write_text(src.stdout)
    spec = importlib.util.spec_from_file_location("media_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["media_before"] = module
    spec.loader.exec_module(module)
    return module.probe


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


def time_pass(paths: list[Path], run) -> tuple[float, list]:
    t0 = time.perf_counter()
    rows = [run(p.stem, p) for p in paths]
    return time.perf_counter() - t0, rows


def _same(a, b) -> bool:
    """Every field equal (NaN equal to NaN)."""
    x, y = dataclasses.asdict(a), dataclasses.asdict(b)
    return all(x[k] == y[k] or (isinstance(x[k], float) and math.isnan(x[k])
                                and math.isnan(y[k])) for k in x)


def bench(name: str, paths: list[Path], repeat: int, before) -> dict[str, float]:
    probes = {
        **({"before": before} if before else {}),
        "full": lambda v, p: probe(v, p, audio="full"),
        "ends": lambda v, p: probe(v, p, audio="ends"),
    }
    medians, rows = {}, {}
    for label, run in probes.items():
        time_pass(paths, run)  # warm-up: page cache, codec initialisation
        runs = [time_pass(paths, run) for _ in range(repeat)]
        medians[label] = statistics.median(t for t, _ in runs)
        rows[label] = runs[-1][1]
        print(f"  {name} {label}: {', '.join(f'{t:.3f}' for t, _ in runs)} s per pass")
    hours = sum(r.duration_s for r in rows["full"] if r.duration_s == r.duration_s) / 3600
    print(f"{name}: {len(paths)} files, {hours * 3600:.0f} s of video")
    ref = "before" if before else "full"
    for label in probes:
        if label != ref:
            same = sum(_same(a, b) for a, b in zip(rows[ref], rows[label]))
            print(f"  {label} rows identical to {ref}'s: {same} of {len(paths)}")
    for label in probes:
        t = medians[label]
        print(f"  {label:6s}: {len(paths) / t:7.2f} probes/s, {t / len(paths):.3f} s per file, "
              f"{t / hours:.1f} s per hour of video")
    for label in probes:
        if label != "ends":
            print(f"  {label} / ends: {medians[label] / medians['ends']:.1f}x")
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
    before = old_probe(work)
    bench("small", small, args.repeat, before)
    bench("long", [long], args.repeat, before)


if __name__ == "__main__":
    main()
