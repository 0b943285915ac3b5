"""The score report's tables in the shape of the papers' own (config ``paper_tables``): each names
its rows' models, the paper's columns for each row (e.g. Lin et al.'s sample rate, clip length and
frames) and the number the paper published, and gets this run's M_rho (and CCC) on val and test
beside it. The papers' numbers are on EEV; this run's are on whatever data it ran on (the demo's
are on a synthetic planted signal, so compare the order of the rows, not the values)."""

from __future__ import annotations

import pandas as pd


def check_paper_tables(tables: dict, models: list[str]) -> list[str]:
    """Config problems: a row naming a model that is neither a variant nor an ensemble, a row
    whose cells do not match the table's columns."""
    problems = []
    for name, t in tables.items():
        for i, row in enumerate(t["rows"]):
            where = f"paper_tables.{name}.rows[{i}]"
            if row["model"] not in models:
                problems.append(f"{where}.model: unknown model {row['model']!r}; allowed values: "
                                f"{sorted(models)}")
            if len(row["cells"]) != len(t["columns"]):
                problems.append(f"{where}.cells: {len(row['cells'])} cells for "
                                f"{len(t['columns'])} columns {t['columns']}")
    return problems


def _fmt(v) -> str:
    return "" if v is None or pd.isna(v) else f"{v:.4f}"


def paper_tables_markdown(table: pd.DataFrame, tables: dict) -> str:
    """Markdown sections, one per configured table, from the score table (columns model, split,
    m_rho, ccc); empty when none is configured."""
    if not tables:
        return ""
    splits = [s for s in ("val", "test") if s in set(table["split"])]
    m_rho = table.pivot(index="model", columns="split", values="m_rho")
    ccc = table.pivot(index="model", columns="split", values="ccc") if "ccc" in table else None
    lines = ["", "## The papers' tables, filled from this run", "",
             "Each table has the rows and columns of a paper's own; `paper` is the number it "
             "published (on EEV), the other columns this run's."]
    for name, t in tables.items():
        cols = [*t["columns"], "model", f"paper {t.get('paper_metric', 'M_rho')}"]
        cols += [f"{s} M_rho" for s in splits]
        if ccc is not None and t.get("ccc", False):
            cols += [f"{s} CCC" for s in splits]
        lines += ["", f"### {t['title']}", "", "| " + " | ".join(cols) + " |",
                  "|" + "---|" * len(cols)]
        for row in t["rows"]:
            model = row["model"]
            paper = row.get("paper")
            vals = [str(c) for c in row["cells"]] + [f"`{model}`", "" if paper is None else f"{paper:.5g}"]
            vals += [_fmt(m_rho.loc[model, s]) if model in m_rho.index else "" for s in splits]
            if ccc is not None and t.get("ccc", False):
                vals += [_fmt(ccc.loc[model, s]) if model in ccc.index else "" for s in splits]
            lines.append("| " + " | ".join(v.replace("|", "\\|") for v in vals) + " |")
        if t.get("note"):
            lines += ["", t["note"]]
    return "\n".join(lines) + "\n"
