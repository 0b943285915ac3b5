#!/usr/bin/env python
"""The fallback for test videos a model could not predict, measured on a finished run: some test
videos are taken away (their predictions dropped, as when download_check excludes them), the
submission's fallback fills their rows (eevflow.submission.fill_missing with each ``fill``), and
the filled test set is scored against the test truth with the config's scoring (the winner's
``constant_policy: minus_one`` by default: a constant per video scores -1).

    python bench/bench_fallback.py --results results --model tcn_pe_av --remove 4 [--json out]

The removed videos are the first ``--remove`` of the test split's videos sorted by ID (a fixed,
documented choice); the rest keep the model's predictions. Reports M_rho over all test videos and
over the removed ones alone, for mean_curve, mean and zeros.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eevflow.label_prior import mean_label_curve  # noqa: E402
from eevflow.layout import Layout  # noqa: E402
from eevflow.report import score_predictions  # noqa: E402
from eevflow.submission import FILLS, fill_missing  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--model", default="tcn_pe_av")
    ap.add_argument("--remove", type=int, default=4)
    ap.add_argument("--min-videos", type=int, default=10, help="submission.curve_min_videos")
    ap.add_argument("--policy", default="minus_one", help="scoring.constant_policy")
    ap.add_argument("--json")
    args = ap.parse_args()
    layout = Layout(args.results)
    train = pd.read_parquet(layout.labels("train"))
    truth = pd.read_parquet(layout.test_truth())
    targets = [c for c in truth.columns if c not in ("video_id", "timestamp_us", "detected")]
    pred = pd.read_parquet(layout.predictions(args.model, "test"))
    removed = sorted(truth["video_id"].unique())[: args.remove]
    kept = pred[~pred["video_id"].isin(removed)]
    curve = mean_label_curve(train, targets, args.min_videos)
    rows = truth[["video_id", "timestamp_us"]]
    out = {"results": args.results, "model": args.model, "removed": removed,
           "n_test_videos": int(truth["video_id"].nunique()), "policy": args.policy,
           "curve_rows": len(curve.values), "curve_min_videos": curve.min_videos, "fills": {}}
    full = score_predictions(truth, pred, targets, args.policy, True)["m_rho"]
    out["all_predicted_m_rho"] = full
    print(f"{args.model}: test M_rho with every video predicted {full:.4f}; "
          f"{len(removed)} of {out['n_test_videos']} removed: {removed}")
    for fill in FILLS:
        filled, report = fill_missing(rows, kept, targets, fill=fill, curve=curve)
        every = score_predictions(truth, filled, targets, args.policy, True)["m_rho"]
        gone = score_predictions(truth[truth["video_id"].isin(removed)],
                                 filled[filled["video_id"].isin(removed)], targets,
                                 args.policy, True)["m_rho"]
        out["fills"][fill] = {"m_rho_all": every, "m_rho_removed": gone,
                              "filled_rows": report.filled_rows}
        print(f"  fill {fill:10s}: M_rho all test videos {every:.4f}, "
              f"removed videos alone {gone:.4f} ({report.filled_rows} rows filled)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
