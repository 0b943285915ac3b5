"""The score table and report: unscorable videos (fewer than 2 scorable rows) are counted, named
with their reason and treated as ``scoring.unscorable`` says, in eevflow.report and in the score
job's script (run here on a fake ``snakemake`` object, without Snakemake)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from eevflow import runtime
from eevflow.report import ORACLE, ORACLE_INFO, markdown, score_predictions, unscorable_section

REPO = Path(__file__).resolve().parents[1]
TARGETS = ["joy", "awe", "fear"]
# video -> rows; "blank" has every row undetected, "single" one label row, "mostly" 1 of 5 left
LENGTHS = {"good1": 12, "blank": 6, "good2": 9, "single": 1, "mostly": 5}


def make_truth(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for vid, n in LENGTHS.items():
        y = rng.uniform(0.01, 1, (n, len(TARGETS)))
        if vid == "blank":
            y[:] = 0.0
        if vid == "mostly":
            y[1:] = 0.0
        df = pd.DataFrame(y, columns=TARGETS)
        df.insert(0, "timestamp_us", np.arange(n, dtype=np.int64) * 166_667)
        df.insert(0, "video_id", vid)
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def make_pred(truth: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    pred = truth.copy()
    pred[TARGETS] = 0.5 * truth[TARGETS].to_numpy() + rng.random((len(truth), len(TARGETS)))
    return pred.sample(frac=1.0, random_state=seed)  # row order must not matter


def _detected_rows(truth, pred, vid):
    """One video's truth and prediction on its detected rows, in time order."""
    t = truth[truth["video_id"] == vid].sort_values("timestamp_us")
    p = pred.set_index(["video_id", "timestamp_us"]).loc[
        list(zip(t["video_id"], t["timestamp_us"]))
    ]
    ok = t[TARGETS].sum(axis=1).to_numpy() > 1e-6
    return t[TARGETS].to_numpy()[ok], p[TARGETS].to_numpy()[ok]


def hand_pearson(truth, pred, vid):
    """Mean over targets of np.corrcoef on the detected rows of one video."""
    x, y = _detected_rows(truth, pred, vid)
    return float(np.mean([np.corrcoef(x[:, c], y[:, c])[0, 1] for c in range(len(TARGETS))]))


def hand_ccc(truth, pred, vid):
    """Per-target Lin's CCC (population moments) on the detected rows of one video."""
    x, y = _detected_rows(truth, pred, vid)
    cov = ((x - x.mean(0)) * (y - y.mean(0))).mean(0)
    return 2 * cov / (x.var(0) + y.var(0) + (x.mean(0) - y.mean(0)) ** 2)


REASONS = {
    "blank": "all 6 rows undetected",
    "single": "1 label row",
    "mostly": "1 scorable row of 5 (4 undetected)",
}


@pytest.mark.parametrize("option", ["exclude", "constant_policy"])
def test_score_predictions_counts_names_and_applies_the_option(option):
    truth = make_truth()
    pred = make_pred(truth, seed=1)
    row = score_predictions(truth, pred, TARGETS, "minus_one", True, unscorable=option)
    assert row["n_unscorable_videos"] == 3
    assert row["unscorable_videos"] == REASONS
    good = [hand_pearson(truth, pred, v) for v in ("good1", "good2")]
    if option == "exclude":
        assert row["n_videos"] == 2
        assert row["m_rho"] == pytest.approx(np.mean(good), abs=1e-12)
        # the same as scoring without those videos, bitwise
        keep = truth["video_id"].isin(["good1", "good2"])
        alone = score_predictions(truth[keep], pred, TARGETS, "minus_one", True)
        assert alone["m_rho"] == row["m_rho"] and alone["n_unscorable_videos"] == 0
        assert row["n_rows"] == 12 + 9 and row["n_constant_pairs"] == 0
    else:  # the winner's literal rule: -1 per unscorable video
        assert row["n_videos"] == 5
        assert row["m_rho"] == pytest.approx((sum(good) - 3) / 5, abs=1e-12)
        assert row["n_rows"] == 12 + 9 + 1 + 1 and row["n_constant_pairs"] == 3 * len(TARGETS)
    # the default is to exclude
    default = score_predictions(truth, pred, TARGETS, "minus_one", True)
    assert default["m_rho"] == pytest.approx(np.mean(good), abs=1e-12)
    # CCC on the same rows, the unscorable videos left out whatever the option
    ccc = np.stack([hand_ccc(truth, pred, v) for v in ("good1", "good2")])
    assert row["ccc"] == pytest.approx(ccc.mean(), abs=1e-12)
    for c, t in enumerate(TARGETS):
        assert row[f"ccc_{t}"] == pytest.approx(ccc[:, c].mean(), abs=1e-12)
        assert row[f"ccc_{t}"] <= 1.0


def test_unscorable_section_names_each_video_and_the_option():
    scoring = {"unscorable": "exclude", "constant_policy": "minus_one", "ignore_undetected": True}
    videos = {
        "val": {
            "a": {"v1": "1 label row"},
            "b": {"v1": "1 label row", "v|2": "all 3 rows undetected"},
        },
        "test": {"a": {}, "b": {}},
    }
    lines = unscorable_section(videos, scoring)
    text = "\n".join(lines)
    assert "`scoring.unscorable: exclude`: left out of M_rho" in text
    assert "| val | v1 | 1 label row | all |" in lines
    assert "| val | v\\|2 | all 3 rows undetected | b |" in lines  # only b, pipe escaped
    assert not any(line.startswith("| test |") for line in lines)
    literal = unscorable_section(videos, {**scoring, "unscorable": "constant_policy"})
    assert "`scoring.constant_policy: minus_one`: r = -1 on every expression" in "\n".join(literal)
    none = unscorable_section({"val": {"a": {}}}, scoring)
    assert none[-1] == "None." and not any(line.startswith("| split") for line in none)


class _Named(dict):
    """Snakemake's named inputs: ``input[name]`` and ``input.name``."""

    __getattr__ = dict.__getitem__


def _fake_snakemake(tmp_path: Path, option: str) -> SimpleNamespace:
    truth = make_truth()
    truth_path = tmp_path / "labels" / "val.parquet"
    truth_path.parent.mkdir(parents=True)
    truth.to_parquet(truth_path)
    preds = []
    for i, model in enumerate(("m1", "m2")):
        path = tmp_path / "predictions" / model / "val.parquet"
        path.parent.mkdir(parents=True)
        pred = make_pred(truth, seed=10 + i)
        if model == "m2":  # m2 predicted one row of good2 only: unscorable for m2 alone
            drop = (pred["video_id"] == "good2") & (pred["timestamp_us"] > 0)
            pred = pred[~drop]
        pred.to_parquet(path)
        preds.append(str(path))
    manifest = tmp_path / "manifest" / "val.parquet"
    manifest.parent.mkdir()
    pd.DataFrame({"status": ["ok"] * 5 + ["missing"]}).to_parquet(manifest)
    settings = {"features": ["f"], "model": {"dropout": 0.1}, "training": {}}
    out = tmp_path / "scores"
    return SimpleNamespace(
        input=_Named({  # the score rule's named inputs
            **{f"pred__{m}__val": p for m, p in zip(("m1", "m2"), preds)},
            "truth__val": str(truth_path), "manifest__val": str(manifest),
        }),
        output=SimpleNamespace(
            csv=str(out / "scores.csv"), md=str(out / "scores.md"),
            unscorable=str(out / "unscorable.json"),
        ),
        params=SimpleNamespace(
            models=["m1", "m2"], variants={"m1": settings, "m2": settings}, ensembles={},
            sweeps=[], paper_tables={},
            splits=["val"], manifest_splits=["val"], targets=TARGETS,
            scoring={"constant_policy": "minus_one", "ignore_undetected": True,
                     "unscorable": option},
            past_end={"policy": "keep", "tolerance_s": 0.5},
        ),
        log=[], threads=1, resources=SimpleNamespace(gpu=0),
    )  # fmt: skip


@pytest.mark.parametrize("option", ["exclude", "constant_policy"])
def test_score_script_writes_the_unscorable_videos(tmp_path, monkeypatch, option):
    monkeypatch.setattr(runtime, "limit_threads", lambda n: None)
    monkeypatch.setattr(runtime, "limit_gpus", lambda n, asked="": None)
    monkeypatch.syspath_prepend(str(REPO / "workflow_scripts"))  # the script imports _paths
    sm = _fake_snakemake(tmp_path, option)
    (tmp_path / "scores").mkdir()
    runpy.run_path(str(REPO / "workflow_scripts" / "score.py"), {"snakemake": sm})
    table = pd.read_csv(sm.output.csv).set_index("model")
    assert table.loc["m1", "n_unscorable_videos"] == 3
    assert table.loc["m2", "n_unscorable_videos"] == 4
    assert (table["unscorable"] == option).all()
    assert table.loc["m1", "n_videos"] == (2 if option == "exclude" else 5)
    assert "unscorable_videos" not in table  # the list is in the JSON, not a column
    listed = json.loads(Path(sm.output.unscorable).read_text())
    assert listed["unscorable"] == option and listed["constant_policy"] == "minus_one"
    assert listed["videos"]["val"]["m1"] == REASONS
    assert listed["videos"]["val"]["m2"] == {**REASONS, "good2": "1 label row"}
    md = Path(sm.output.md).read_text()
    assert "## Unscorable videos (fewer than 2 scorable rows)" in md
    assert f"`scoring.unscorable: {option}`" in md
    for vid, why in REASONS.items():
        assert f"| val | {vid} | {why} | all |" in md
    assert "| val | good2 | 1 label row | m2 |" in md
    # the per-expression table has the count per model
    assert "| videos | constant pairs | unscorable |" in md
    # CCC: the summary's column, per-target columns of the csv and a per-expression table
    assert "| model | feature | dropout | PE | val M_rho | val CCC |" in md
    assert {f"ccc_{t}" for t in TARGETS} | {"ccc"} <= set(table.columns)
    assert "## Per-expression CCC (val)" in md and "| model | joy | awe | fear | mean |" in md
    for model in ("m1", "m2"):
        r = table.loc[model]
        cells = " | ".join(f"{r[f'ccc_{t}']:.3f}" for t in TARGETS)
        assert f"| {model} | {cells} | {r['ccc']:.4f} |" in md
        assert f"| {r['m_rho']:.4f} | {r['ccc']:.4f} |" in md


def test_markdown_keeps_its_other_sections():
    truth = make_truth()
    row = score_predictions(truth, make_pred(truth, seed=3), TARGETS, "minus_one", True)
    videos = {"val": {"m": row.pop("unscorable_videos")}}
    info = {"kind": "variant", "feature": "f", "dropout": 0.1, "positional_encoding": "none",
            "shuffled_labels": False}  # fmt: skip
    table = pd.DataFrame([{"model": "m", "split": "val", **info, **row}])
    scoring = {"unscorable": "exclude", "constant_policy": "minus_one", "ignore_undetected": True}
    md = markdown(table, TARGETS, {"val": {"missing": 1}}, videos, scoring)
    assert f"| m | f | 0.1 | none | {row['m_rho']:.4f} |" in md
    assert f"| m | f | 0.1 | none | {row['m_rho']:.4f} | {row['ccc']:.4f} |" in md
    assert md.index("## Per-expression Pearson's r (val)") < md.index("## Per-expression CCC (val)")
    assert "| val | missing | 1 |" in md
    assert md.index("## Unscorable videos") < md.index("## Videos not `ok`")
    assert "| val | blank | all 6 rows undetected | all |" in md


def test_the_oracle_row_and_the_best_models_share_of_it():
    truth = make_truth()
    info = {"kind": "variant", "feature": "f", "dropout": 0.1, "positional_encoding": "none",
            "shuffled_labels": False}  # fmt: skip
    rows = []
    for model, pred, extra in (("good", make_pred(truth, seed=3), {}),
                               ("control", make_pred(truth, seed=4), {"shuffled_labels": True}),
                               (ORACLE, truth, ORACLE_INFO)):
        for split in ("val", "test") if model != ORACLE else ("test",):
            row = score_predictions(truth, pred, TARGETS, "minus_one", True)
            row.pop("unscorable_videos")
            rows.append({"model": model, "split": split, **info, **extra, **row})
    table = pd.DataFrame(rows)
    scoring = {"unscorable": "exclude", "constant_policy": "minus_one", "ignore_undetected": True}
    md = markdown(table, TARGETS, {}, {"val": {}, "test": {}}, scoring)
    oracle = table[table["model"] == ORACLE]["m_rho"].iloc[0]
    good = table[(table["model"] == "good") & (table["split"] == "test")]["m_rho"].iloc[0]
    assert f"| {ORACLE} | the noise-free label signal (the ceiling) |  |  |  | {oracle:.4f} |" in md
    # the share names the best model that is not the oracle or a shuffled control
    share = f"{100 * good / oracle:.0f}% of the oracle's {oracle:.4f}"
    assert f"Best model on test: `good`, M_rho {good:.4f} = {share}" in md
    # without an oracle row there is no ceiling line
    md2 = markdown(table[table["model"] != ORACLE], TARGETS, {}, {"val": {}, "test": {}}, scoring)
    assert "of the oracle" not in md2
