"""The score report's tables in the shape of the papers' own (config ``paper_tables``)."""

import pandas as pd
import yaml

from eevflow.config import ConfigError, validate_config
from eevflow.paper_tables import check_paper_tables, paper_tables_markdown
from tests.test_config import REPO, SCHEMA

TABLES = {
    "lin": {
        "title": "Lin et al. Table 1", "columns": ["sample rate", "clip"], "ccc": True,
        "paper_metric": "val corr.", "note": "ablation of the inference strategy",
        "rows": [{"model": "a", "cells": ["6Hz", "10s"], "paper": 0.0077},
                 {"model": "b", "cells": ["1Hz", "60s"], "paper": None}],
    }
}


def _scores():
    rows = [("a", "val", 0.5, 0.4), ("a", "test", 0.25, 0.2), ("b", "val", 0.75, 0.7),
            ("b", "test", 0.125, 0.1)]
    return pd.DataFrame(rows, columns=["model", "split", "m_rho", "ccc"])


def test_rows_carry_the_papers_cells_and_number_beside_this_runs_scores():
    md = paper_tables_markdown(_scores(), TABLES)
    lines = md.splitlines()
    head = lines.index("### Lin et al. Table 1")
    assert lines[head + 2] == ("| sample rate | clip | model | paper val corr. | val M_rho | "
                               "test M_rho | val CCC | test CCC |")
    assert lines[head + 4] == "| 6Hz | 10s | `a` | 0.0077 | 0.5000 | 0.2500 | 0.4000 | 0.2000 |"
    assert lines[head + 5] == "| 1Hz | 60s | `b` |  | 0.7500 | 0.1250 | 0.7000 | 0.1000 |"
    assert "ablation of the inference strategy" in md
    assert paper_tables_markdown(_scores(), {}) == ""


def test_rows_must_name_models_and_match_the_columns():
    bad = {"t": {**TABLES["lin"], "rows": [{"model": "zz", "cells": ["6Hz"]}]}}
    problems = check_paper_tables(bad, ["a", "b"])
    assert any("paper_tables.t.rows[0].model: unknown model 'zz'" in p for p in problems)
    assert any("1 cells for 2 columns" in p for p in problems)
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["paper_tables"] = bad
    try:
        validate_config(cfg, SCHEMA)
    except ConfigError as e:
        assert "unknown model 'zz'" in str(e)
    else:
        raise AssertionError("a table naming an unknown model was accepted")
