"""eevflow/layout.py is the one place the result tree is defined: each path it builds (concrete and
as a Snakemake wildcard pattern, as the rules named them before it existed), and no rule file
builds a result path by hand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eevflow.layout import Layout

REPO = Path(__file__).resolve().parents[1]

# method, arguments, path under a sample root, path as a wildcard pattern under "results"
CASES = [
    ("labels", ("train",), "labels/train.parquet", ("{split}",), "labels/{split}.parquet"),
    ("test_truth", (), "labels/test_truth.parquet", (), "labels/test_truth.parquet"),
    ("manifest", ("val",), "manifest/val.parquet", ("{split}",), "manifest/{split}.parquet"),
    ("manifest_shard", ("val", "003"), "manifest/val/shard-003.parquet",
     ("{split}", "{shard}"), "manifest/{split}/shard-{shard}.parquet"),
    ("dataset_report", ("md",), "manifest/report.md", ("json",), "manifest/report.json"),
    ("decoded", ("test", "007"), "decoded/test/shard-007",
     ("{split}", "{shard}"), "decoded/{split}/shard-{shard}"),
    ("features", ("logmel64", "train", "000"), "features/logmel64/train/shard-000.parquet",
     ("{extractor}", "{split}", "{shard}"), "features/{extractor}/{split}/shard-{shard}.parquet"),
    ("model", ("tcn_pe",), "models/tcn_pe/model.pt", ("{variant}",), "models/{variant}/model.pt"),
    ("history", ("tcn_pe",), "models/tcn_pe/training.json",
     ("{variant}",), "models/{variant}/training.json"),
    ("predictions", ("ens", "test"), "predictions/ens/test.parquet",
     ("{variant}", "{pred_split}"), "predictions/{variant}/{pred_split}.parquet"),
    ("weights", ("ens",), "predictions/ens/weights.json",
     ("{ensemble}",), "predictions/{ensemble}/weights.json"),
    ("scores", ("csv",), "scores/scores.csv", ("md",), "scores/scores.md"),
    ("unscorable", (), "scores/unscorable.json", (), "scores/unscorable.json"),
    ("submission", ("ens",), "submission/ens.csv", ("{model}",), "submission/{model}.csv"),
    ("fill_report", ("ens",), "submission/ens.fill.json",
     ("{model}",), "submission/{model}.fill.json"),
    ("log", ("score",), "logs/score.log", ("demo_data",), "logs/demo_data.log"),
    ("log", ("labels", "test_truth"), "logs/labels/test_truth.log",
     ("predict", "{variant}", "{pred_split}"), "logs/predict/{variant}/{pred_split}.log"),
    ("benchmark", ("demo_data",), "benchmarks/demo_data.tsv",
     ("train", "{variant}"), "benchmarks/train/{variant}.tsv"),
]


@pytest.mark.parametrize("method, args, path, wc_args, pattern", CASES)
def test_each_path(method, args, path, wc_args, pattern):
    assert getattr(Layout("/data/run 1"), method)(*args) == f"/data/run 1/{path}"
    assert getattr(Layout("results"), method)(*wc_args) == f"results/{pattern}"


def test_shard_logs_and_benchmarks():
    L = Layout("results")
    assert L.log("decode", "{split}", shard="{shard}") == (
        "results/logs/decode/{split}/shard-{shard}.log")
    assert (L.benchmark("extract", "{extractor}", "{split}", shard="{shard}")
            == "results/benchmarks/extract/{extractor}/{split}/shard-{shard}.tsv")
    assert L.log("extract", "e", "train", shard="003") == (
        "results/logs/extract/e/train/shard-003.log")


def test_the_same_strings_as_the_f_strings_the_rules_used():
    """Wildcards come out single-braced, exactly as the old ``f"{R}/...{{split}}..."`` did."""
    R, L = "results", Layout("results")
    assert L.features("{extractor}", "{split}", "{shard}") == (
        f"{R}/features/{{extractor}}/{{split}}/shard-{{shard}}.parquet")
    assert L.decoded("{split}", "{shard}") == f"{R}/decoded/{{split}}/shard-{{shard}}"
    assert L.benchmark("decode", "{split}", shard="{shard}") == (
        f"{R}/benchmarks/decode/{{split}}/shard-{{shard}}.tsv")


def test_root_as_given():
    """No normalisation: the root is joined as written (a Path is taken as its string)."""
    assert Layout(Path("/tmp/r")).manifest("test") == "/tmp/r/manifest/test.parquet"
    assert Layout("./results").labels("val") == "./results/labels/val.parquet"
    assert repr(Layout("results")) == "Layout('results')"


def test_rules_build_no_result_path_by_hand():
    """Every result path in the rule files comes from ``L`` (the one ``Layout`` line aside)."""
    found = []
    for path in sorted((REPO / "rules").glob("*.smk")) + [REPO / "Snakefile"]:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip() == 'L = Layout(config["results_dir"])':
                continue
            if re.search(r"\{R\}|results_dir|^\s*R\s*=|[\"']results/", line):
                found.append(f"{path.relative_to(REPO)}:{n}: {line.strip()}")
    assert found == []
    common = (REPO / "rules" / "common.smk").read_text()
    assert common.count('L = Layout(config["results_dir"])') == 1
