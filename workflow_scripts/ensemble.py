"""Weighted average of member variants' predictions on val and test.

Weights are the config's (paper Eq. 5) or, with ``select_weights: val_grid``, the simplex-grid
weights that maximise validation M_rho -- on the validation videos held out of model selection
when ``validation.weights_holdout`` > 0, else on all of them (eevflow.validation). The chosen
weights, and which validation videos chose them, are written to ``weights.json``.
"""

import _paths  # noqa: F401  (makes eevflow importable)
import logging

import pandas as pd

from eevflow.ensemble import grid_search_weights, weighted_average
from eevflow.io import atomic_path, write_json
from eevflow.past_end import drop_past_end
from eevflow.runtime import run_script
from eevflow.validation import describe, split_rows


def main(sm):
    spec, targets, scoring = sm.params.spec, list(sm.params.targets), sm.params.scoring
    names = list(spec["members"])
    val = {n: pd.read_parquet(sm.input[f"val_{n}"]) for n in names}
    test = {n: pd.read_parquet(sm.input[f"test_{n}"]) for n in names}
    trials, held, n_val, how = [], [], 0, "members' weights as given (select_weights: fixed)"
    if spec["select_weights"] == "val_grid":
        raw = pd.read_parquet(sm.input.val_labels)
        ids = raw["video_id"].unique()
        n_val = len(ids)
        truth = drop_past_end(raw, list(sm.input.past_end_manifests), sm.params.past_end,
                              "remove")
        truth, held = split_rows(truth, sm.params.weights_holdout, "weights", ids)
        how = describe(sm.params.weights_holdout, held, n_val)
        keep = set(truth["video_id"])
        weights, trials = grid_search_weights(
            {n: df[df["video_id"].isin(keep)] for n, df in val.items()},
            truth, targets, spec["grid_step"],
            scoring["constant_policy"], scoring["ignore_undetected"],
            unscorable=scoring["unscorable"],
        )
    else:
        total = sum(spec["members"].values())
        weights = {n: w / total for n, w in spec["members"].items()}
    logging.info("weights %s (%s): %s", weights, spec["select_weights"], how)
    for split, members, out in (("val", val, sm.output.val), ("test", test, sm.output.test)):
        df = weighted_average(members, weights, targets)
        logging.info("%s: %d rows", split, len(df))
        with atomic_path(out) as tmp:
            df.to_parquet(tmp, index=False)
    write_json(
        {"weights": weights, "select_weights": spec["select_weights"], "weight_videos": how,
         "weights_holdout": sm.params.weights_holdout, "held_out_videos": held,
         "n_val_videos": n_val, "trials": trials},
        sm.output.weights,
    )


run_script(snakemake, main)  # noqa: F821
