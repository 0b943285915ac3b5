"""Score every variant and ensemble on val (and test when ground truth is given).

Writes the score table (csv: M_rho and mean CCC, per-target r and CCC), its Markdown report and,
as JSON, the unscorable videos (fewer than 2 scorable rows) of each split and model with their
reasons and the ``scoring`` options applied.
"""

import _paths  # noqa: F401  (makes eevflow importable)
import json
import logging
from pathlib import Path

import pandas as pd

from eevflow.io import atomic_path, write_json
from eevflow.paper_tables import paper_tables_markdown
from eevflow.past_end import drop_past_end
from eevflow.report import (ORACLE, ORACLE_INFO, describe_model, ensemble_weights_markdown,
                            markdown, score_predictions)
from eevflow.runtime import run_script
from eevflow.sweeps import sweep_markdown


def main(sm):
    targets, scoring = list(sm.params.targets), sm.params.scoring
    manifest_of = {split: sm.input[f"manifest__{split}"] for split in sm.params.manifest_splits}
    truth = {
        split: drop_past_end(
            pd.read_parquet(sm.input[f"truth__{split}"]), [manifest_of[split]],
            sm.params.past_end, "remove",
        )
        for split in sm.params.splits
    }
    weight_files = {
        e: json.loads(Path(sm.input[f"weights__{e}"]).read_text()) for e in sm.params.ensembles
    }
    chosen = {e: w["weights"] for e, w in weight_files.items()}
    variants = dict(sm.params.variants)
    for s in sm.params.sweeps:  # a swept variant is described by the point it kept
        kept = json.loads(Path(sm.input[f"sweep__{s}"]).read_text())["chosen_values"]
        variants[s] = {**variants[s], **{b: dict(variants[s][b]) for b in ("model", "training")}}
        for key, value in kept.items():
            block, option = key.split(".", 1)
            variants[s][block][option] = value
    rows = []
    unscorable = {split: {} for split in sm.params.splits}  # split -> model -> {video: reason}
    for model in sm.params.models:
        info = describe_model(model, variants, sm.params.ensembles, chosen)
        for split in sm.params.splits:
            path = sm.input[f"pred__{model}__{split}"]
            row = score_predictions(
                truth[split], pd.read_parquet(path), targets,
                scoring["constant_policy"], scoring["ignore_undetected"],
                unscorable=scoring["unscorable"],
            )
            unscorable[split][model] = row.pop("unscorable_videos")
            rows.append({"model": model, "split": split, **info, **row})
            logging.info("%s %s: M_rho %.4f, CCC %.4f", model, split, row["m_rho"], row["ccc"])
            if row["n_unscorable_videos"]:
                logging.warning(
                    "%s %s: %d unscorable video(s) (%s): %s", model, split,
                    row["n_unscorable_videos"], scoring["unscorable"], unscorable[split][model],
                )
    if "oracle" in sm.input.keys():  # data.test_oracle: the noise-free signal, the ceiling
        oracle = drop_past_end(pd.read_parquet(sm.input.oracle), [manifest_of["test"]],
                               sm.params.past_end, "remove")
        row = score_predictions(
            truth["test"], oracle, targets, scoring["constant_policy"],
            scoring["ignore_undetected"], unscorable=scoring["unscorable"],
        )
        unscorable["test"][ORACLE] = row.pop("unscorable_videos")
        rows.append({"model": ORACLE, "split": "test", **ORACLE_INFO, **row})
        logging.info("oracle test: M_rho %.4f, CCC %.4f", row["m_rho"], row["ccc"])
    table = pd.DataFrame(rows)
    excluded = {}
    for split, path in manifest_of.items():
        m = pd.read_parquet(path, columns=["status"])
        excluded[split] = {k: int(v) for k, v in m["status"].value_counts().items() if k != "ok"}
    table["constant_policy"] = scoring["constant_policy"]
    table["ignore_undetected"] = scoring["ignore_undetected"]
    table["unscorable"] = scoring["unscorable"]
    with atomic_path(sm.output.csv) as tmp:
        table.to_csv(tmp, index=False, float_format="%.6f")
    write_json(
        {
            "unscorable": scoring["unscorable"],
            "constant_policy": scoring["constant_policy"],
            "ignore_undetected": scoring["ignore_undetected"],
            "videos": unscorable,
        },
        sm.output.unscorable,
    )
    sweeps = [line for s in sm.params.sweeps for line in sweep_markdown(
        s, json.loads(Path(sm.input[f"sweep__{s}"]).read_text()))]
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(markdown(table, targets, excluded, unscorable, scoring)
                       + paper_tables_markdown(table, sm.params.paper_tables)
                       + ensemble_weights_markdown(weight_files)
                       + ("\n## Sweeps\n\n" + "\n".join(sweeps) if sweeps else ""))


run_script(snakemake, main)  # noqa: F821
