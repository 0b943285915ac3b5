"""Keep a swept variant's point with the best validation M_rho: the sweep's table
(eevflow.sweeps) and the kept point's val and test predictions under the variant's name. Only the
kept point is predicted; the others' models stay, their validation M_rho is in the table."""

import _paths  # noqa: F401  (makes eevflow importable)
import json
import logging
from pathlib import Path

from eevflow.inference import write_predictions
from eevflow.io import write_json
from eevflow.runtime import run_script
from eevflow.sweeps import select_point


def main(sm):
    points = dict(sm.params.points)
    histories = [json.loads(Path(sm.input[f"history__{i}"]).read_text())
                 for i in range(len(points))]
    table = select_point(points, histories)
    chosen = list(points).index(table["chosen"])
    logging.info("kept %s (val M_rho %.4f) of %d points", table["chosen"],
                 table["chosen_val_m_rho"], len(points))
    for split in ("val", "test"):
        shards = {f: list(sm.input[f"{split}__{f}"]) for f in sm.params.features}
        n, skipped = write_predictions(sm.input[f"model__{chosen}"], sm.input[f"labels__{split}"],
                                       shards, list(sm.params.targets), sm.output[split],
                                       threads=sm.threads,
                                       desc=f"predict {table['chosen']} split {split}")
        logging.info("%s: %d rows predicted, %d videos without features", split, n, len(skipped))
        for vid, why in skipped.items():
            logging.warning("%s: no prediction for %s: %s", split, vid, why)
    write_json(table, sm.output.table)


run_script(snakemake, main)  # noqa: F821
