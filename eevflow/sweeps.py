"""Validation sweeps: a variant's ``sweep:`` (a grid over its model and training options, and/or a
list of explicit points) becomes one trainable point per setting, each its own train and predict
jobs; a rule then keeps the point with the best validation M_rho under the variant's own name.

Points are named by Snakemake's ``Paramspace`` over the swept keys (``model.dropout`` is the column
``model__dropout``): ``<variant>/model__dropout~0.2_training__lr~0.001``. A point's name depends
only on its values, so adding a point to a finished run trains only that point. Every point states
every swept key (a key a point leaves out takes the variant's own value), and points that come out
equal are listed once.
"""

from __future__ import annotations

import copy
from itertools import product
from typing import Any

import pandas as pd
from snakemake.utils import Paramspace

BLOCKS = ("model", "training")


def column(key: str) -> str:
    """``model.dropout`` -> ``model__dropout`` (a Paramspace column and wildcard name)."""
    return key.replace(".", "__")


def _settings_value(settings: dict, key: str):
    block, option = key.split(".", 1)
    return settings[block].get(option)


def sweep_points(name: str, variant: dict, settings: dict) -> dict[str, dict[str, Any]]:
    """point name -> its values (``{"model.dropout": 0.2, ...}``), in the sweep's order: the grid's
    product first, then the explicit points. ``settings``: the variant's own merged settings (for
    the keys a point leaves out)."""
    sweep = variant.get("sweep") or {}
    grid, explicit = sweep.get("grid", {}), sweep.get("points", [])
    keys = list(grid)
    for point in explicit:
        keys += [k for k in point if k not in keys]
    rows = [dict(zip(grid, combo)) for combo in product(*grid.values())] if grid else []
    rows += [dict(p) for p in explicit]
    full = []
    for row in rows:
        values = {k: row[k] if k in row else _settings_value(settings, k) for k in keys}
        if values not in full:
            full.append(values)
    if not full:
        return {}
    frame = pd.DataFrame([{column(k): v for k, v in values.items()} for values in full],
                         columns=[column(k) for k in keys])
    space = Paramspace(frame, filename_params="*")
    return {f"{name}/{pattern}": values for pattern, values in zip(space.instance_patterns, full)}


def point_variant(variant: dict, values: dict[str, Any]) -> dict:
    """The variant entry a point trains: the variant's own, its values set over its blocks."""
    out = {k: copy.deepcopy(v) for k, v in variant.items() if k != "sweep"}
    for key, value in values.items():
        block, option = key.split(".", 1)
        out.setdefault(block, {})[option] = value
    return out


def select_point(points: dict[str, dict], histories: list[dict]) -> dict:
    """The sweep's table: each point (in order) with its values and validation M_rho (of the
    weights its training kept), and the point with the best one (the first on a tie; a NaN
    M_rho never wins)."""
    rows = []
    for (name, values), history in zip(points.items(), histories):
        score = history.get("best", {}).get("val_m_rho")
        score = float(score) if score is not None else float("nan")
        rows.append({"point": name, "values": values, "val_m_rho": score})
    finite = [r for r in rows if r["val_m_rho"] == r["val_m_rho"]]
    if not finite:
        raise ValueError("no point of the sweep has a validation M_rho to choose by")
    best = max(finite, key=lambda r: r["val_m_rho"])
    return {"points": rows, "chosen": best["point"], "chosen_values": best["values"],
            "chosen_val_m_rho": best["val_m_rho"]}


def sweep_markdown(name: str, table: dict) -> list[str]:
    """The score report's section for one sweep."""
    keys = list(table["points"][0]["values"]) if table["points"] else []
    lines = [f"### Sweep `{name}`: {len(table['points'])} points, kept by validation M_rho", "",
             "| " + " | ".join([*keys, "val M_rho", "kept"]) + " |",
             "|" + "---|" * (len(keys) + 2)]
    for row in table["points"]:
        cells = [str(row["values"][k]) for k in keys]
        mark = "**yes**" if row["point"] == table["chosen"] else ""
        lines.append("| " + " | ".join([*cells, f"{row['val_m_rho']:.4f}", mark]) + " |")
    return lines + [""]
