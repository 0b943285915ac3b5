"""Keep a swept variant's point with the best validation M_rho: its val and test predictions
under the variant's name, and the sweep's table (eevflow.sweeps)."""

import _paths  # noqa: F401  (makes eevflow importable)
import json
import logging
import shutil
from pathlib import Path

from eevflow.io import atomic_path, write_json
from eevflow.runtime import run_script
from eevflow.sweeps import select_point


def main(sm):
    points = dict(sm.params.points)
    histories = [json.loads(Path(sm.input[f"history__{i}"]).read_text())
                 for i in range(len(points))]
    table = select_point(points, histories)
    chosen = list(points).index(table["chosen"])
    for split in ("val", "test"):
        with atomic_path(sm.output[split]) as tmp:
            shutil.copyfile(sm.input[f"{split}__{chosen}"], tmp)
    write_json(table, sm.output.table)
    logging.info("kept %s (val M_rho %.4f) of %d points", table["chosen"],
                 table["chosen_val_m_rho"], len(points))


run_script(snakemake, main)  # noqa: F821
