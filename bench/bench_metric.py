#!/usr/bin/env python
"""Benchmark eevflow.metrics.score() against a plain loop of scipy.stats.pearsonr calls (one per
video and target), in the same run, on synthetic EEV-shaped data.

Default scale: 1337 videos x ~2162 rows (6 Hz) x 15 targets, about 2.89 million rows, like the EEV
test split. Both sides compute the same thing (policy "minus_one", undetected rows dropped) and are
checked to agree. Rounds are interleaved (score() --score-per-round times, then the scipy loop once)
so that both see the same load on a shared machine; medians and their ratio are reported.

    python bench/bench_metric.py --videos 1337 --rows-per-video 2162 --repeat 3 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eevflow import metrics  # noqa: E402


def make_data(n_videos: int, rows_per_video: int, n_targets: int, undetected_frac, seed: int):
    """YouTube-like ids, video lengths varying +-25%, predictions weakly correlated with truth."""
    rng = np.random.default_rng(seed)
    lo, hi = max(2, int(rows_per_video * 0.75)), int(rows_per_video * 1.25) + 1
    lengths = rng.integers(lo, hi, n_videos)
    lengths = np.round(lengths * (n_videos * rows_per_video / lengths.sum()))  # total as asked
    lengths = np.maximum(2, lengths).astype(np.int64)
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    names = np.array(["".join(rng.choice(alphabet, 11)) for _ in range(n_videos)])
    n = int(lengths.sum())
    y_true = rng.random((n, n_targets))
    y_pred = 0.1 * y_true + 0.9 * rng.random((n, n_targets))
    y_true[rng.random(n) < undetected_frac] = 0.0  # no face detected
    return np.repeat(names, lengths), lengths, y_true, y_pred


def scipy_loop(lengths: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per video: drop undetected rows, then one pearsonr per target (nan, i.e. constant -> -1)."""
    out = np.empty((lengths.shape[0], y_true.shape[1]))
    start = 0
    for j, length in enumerate(lengths.tolist()):
        x, y = y_true[start : start + length], y_pred[start : start + length]
        keep = ~(x.sum(axis=1) <= metrics.UNDETECTED_MAX_SUM)
        x, y = x[keep], y[keep]
        for c in range(x.shape[1]):
            r = scipy.stats.pearsonr(x[:, c], y[:, c]).statistic if x.shape[0] >= 2 else np.nan
            out[j, c] = -1.0 if np.isnan(r) else r
        start += length
    return out


def machine_info() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            info["cpu_model"] = next(
                (ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    return info


def load() -> str:
    """1, 5 and 15 minute load averages, as printed by uptime."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--videos", type=int, default=1337)
    ap.add_argument("--rows-per-video", type=int, default=2162)
    ap.add_argument("--targets", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the scipy loop runs once each")
    ap.add_argument("--score-per-round", type=int, default=3, help="score() calls per round")
    ap.add_argument("--undetected-frac", type=float, default=0.02, help="rows with all-zero truth")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    if min(args.repeat, args.score_per_round, args.videos) < 1 or args.rows_per_video < 2:
        ap.error("--repeat, --score-per-round, --videos must be >= 1 and --rows-per-video >= 2")

    info = machine_info()
    print("machine:", ", ".join(f"{k}={v}" for k, v in info.items()))
    load_start = load()
    print(f"load average at start: {load_start}")
    ids, lengths, y_true, y_pred = make_data(
        args.videos, args.rows_per_video, args.targets, args.undetected_frac, args.seed
    )
    n_rows = int(lengths.sum())
    print(
        f"data: {args.videos} videos, {n_rows} rows ({n_rows / args.videos:.0f} per video), "
        f"{args.targets} targets, float64, ids {ids.dtype}, {args.undetected_frac:.0%} undetected"
    )

    literal = {"unscorable": "constant_policy"}  # -1 for < 2 rows, as the loop below
    res = metrics.score(ids, y_true, y_pred, **literal)  # warm-up
    t_score, t_loop = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(args.repeat):
            for _ in range(args.score_per_round):
                t0 = time.perf_counter()
                res = metrics.score(ids, y_true, y_pred, **literal)
                t_score.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            ref = scipy_loop(lengths, y_true, y_pred)
            t_loop.append(time.perf_counter() - t0)
    med_score, med_loop = statistics.median(t_score), statistics.median(t_loop)
    max_diff = float(np.max(np.abs(ref - res.per_video)))
    agree = max_diff <= 1e-10
    ratio = med_loop / med_score
    load_end = load()
    times = ", ".join(f"{t:.3f}" for t in t_score)
    print(f"score(): m_rho={res.m_rho:.6f}, n_rows_used={res.n_rows_used}")
    print(f"score() times (s): {times}; median {med_score:.3f}")
    times = ", ".join(f"{t:.3f}" for t in t_loop)
    print(
        f"scipy loop, {args.videos * args.targets} pearsonr calls, times (s): {times}; "
        f"median {med_loop:.3f}"
    )
    print(f"agreement: max |r_score - r_scipy| = {max_diff:.2e} ({'OK' if agree else 'MISMATCH'})")
    print(
        f"RESULT: score() median {med_score:.3f} s vs scipy loop median {med_loop:.3f} s: "
        f"score() is {ratio:.1f}x faster"
    )
    print(f"load average at end: {load_end}")

    if args.json is not None:
        out = {
            "machine": info,
            "load_start": load_start,
            "load_end": load_end,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "n_rows": n_rows,
            "score_times_s": t_score,
            "score_median_s": med_score,
            "scipy_times_s": t_loop,
            "scipy_median_s": med_loop,
            "speedup": ratio,
            "m_rho": res.m_rho,
            "max_abs_r_diff": max_diff,
            "agree": agree,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
