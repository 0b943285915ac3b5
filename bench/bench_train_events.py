#!/usr/bin/env python
"""What TensorBoard events cost a train job: eevflow.train_events (TensorBoard's TensorFlow-free
writer) against torch's SummaryWriter as it behaves by default where TensorFlow is installed
(it writes through TensorFlow), each in a fresh process: wall time and peak RSS of importing the
writer, opening a folder and writing ``--epochs`` epochs of three scalars. Also the cost of the
progress lines (eevflow.progress) per update against a bare loop.

    python bench/bench_train_events.py --epochs 200 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import resource, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {repo!r})
if {with_tf}:
    import tensorflow  # noqa: F401  (what the default SummaryWriter then writes through)
t1 = time.perf_counter()
from eevflow.train_events import open_events
ev = open_events({folder!r}, {{"variant": "bench"}})
for e in range({epochs}):
    ev.record({{"train_loss": 1.0 / (e + 1), "val_m_rho": e / {epochs}, "lr": 1e-3}}, e)
ev.close()
t2 = time.perf_counter()
print(t1 - t0, t2 - t1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def run(with_tf: bool, epochs: int) -> tuple[float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        code = CHILD.format(repo=str(REPO), with_tf=with_tf, folder=tmp, epochs=epochs)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True).stdout.split()
    return tuple(float(x) for x in out[-3:])


def progress_overhead(n: int) -> tuple[float, float]:
    import logging
    import time

    sys.path.insert(0, str(REPO))
    from eevflow.progress import progress

    logging.basicConfig(level=logging.INFO, stream=open("/dev/null", "w"))
    t0 = time.perf_counter()
    acc = 0
    for i in range(n):
        acc += i
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    with progress(desc="bench", unit="rows", total=n) as bar:
        for i in range(n):
            acc += i
            bar.update(1)
    return bare, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--updates", type=int, default=1_000_000)
    ap.add_argument("--json")
    args = ap.parse_args()
    res = {"machine": platform.platform(), "python": platform.python_version(), "runs": {}}
    for name, with_tf in (("eevflow (TensorFlow-free)", False), ("through TensorFlow", True)):
        runs = [run(with_tf, args.epochs) for _ in range(args.repeat)]
        med = [statistics.median(r[i] for r in runs) for i in range(3)]
        res["runs"][name] = {"tf_import_s": med[0], "writer_s": med[1], "max_rss_mb": med[2]}
        print(f"{name:28s}: TensorFlow import {med[0]:.2f} s, writer + {args.epochs} epochs "
              f"{med[1]:.2f} s, peak RSS {med[2]:.0f} MB (median of {args.repeat})")
    bare, bar = progress_overhead(args.updates)
    res["progress"] = {"updates": args.updates, "bare_s": bare, "progress_s": bar}
    print(f"progress: {args.updates} updates in {bar:.2f} s against a bare loop's {bare:.3f} s "
          f"({(bar - bare) / args.updates * 1e9:.0f} ns per update)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
