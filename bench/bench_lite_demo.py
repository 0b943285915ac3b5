"""EfficientNet-Lite0 against -Lite2 on a demo: the same TCN variants over each, one workflow run.

Takes a demo config (config.yaml: the synthetic demo; configs/demo_realmedia.yaml: the real-media
one), adds an ``effnet_lite2`` extractor beside its ``effnet_lite0``, keeps the variants that read
``effnet_lite0`` (listed with --variants) and adds their copies over Lite2, drops the ensembles,
sweeps and paper tables, runs the real workflow into its own results folder and prints each
variant's test and validation M_rho from the score table.

    python bench/bench_lite_demo.py --config config.yaml --variants visual_dp03_pe tcn_pe_av
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[1]


def derived_config(base: dict, variants: list[str], results_dir: str) -> dict:
    cfg = dict(base)
    cfg["results_dir"] = results_dir
    lite0 = base["extractors"]["effnet_lite0"]
    cfg["extractors"] = {**base["extractors"], "effnet_lite2": {
        "backend": "efficientnet_lite2", "batch_size": lite0.get("batch_size", 4)}}
    out = {}
    for name in variants:
        v = base["variants"][name]
        if "effnet_lite0" not in v["features"]:
            raise SystemExit(f"variant {name} does not read effnet_lite0")
        if "sweep" in v:
            raise SystemExit(f"variant {name} is a sweep: pick plain variants")
        out[name] = v
        out[f"{name}_lite2"] = {**v, "features": ["effnet_lite2" if f == "effnet_lite0" else f
                                                  for f in v["features"]]}
    cfg["variants"] = out
    cfg["ensembles"] = {}
    cfg["paper_tables"] = {}
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="config.yaml")
    ap.add_argument("--variants", nargs="+", default=["visual_dp03_pe", "tcn_pe_av"])
    ap.add_argument("--results", default=None, help="results folder (default: results/bench_lite_<config>)")
    ap.add_argument("--cores", default=str(os.cpu_count()))
    args = ap.parse_args()
    base = yaml.safe_load((REPO / args.config).read_text())
    results = args.results or f"results/bench_lite_{Path(args.config).stem}"
    cfg = derived_config(base, args.variants, results)
    path = REPO / results / "bench_config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmd = [str(Path(sys.executable).parent / "snakemake"), "--configfile", str(path), "--cores",
           args.cores, "--resources", f"gpu={args.cores}", "--set-threads", "train=1",
           "predict=1"]
    print(f"machine: {platform.platform()}, cpus={os.cpu_count()}; config {args.config}")
    print("command:", " ".join(cmd))
    t0 = time.perf_counter()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.exit(proc.stderr[-4000:])
    print(f"workflow: {time.perf_counter() - t0:.0f} s")
    scores = pd.read_csv(REPO / results / "scores" / "scores.csv")
    wide = scores.pivot_table(index="model", columns="split", values="m_rho")
    print(wide.round(4).to_string())
    for name in ("effnet_lite0", "effnet_lite2"):  # every split and shard of its extract jobs
        files = sorted((REPO / results / "benchmarks" / "extract" / name).rglob("*.tsv"))
        total = sum(float(pd.read_csv(f, sep="\t")["s"].iloc[0]) for f in files)
        print(f"extract {name}: {len(files)} jobs, {total:.0f} s in all")


if __name__ == "__main__":
    main()
