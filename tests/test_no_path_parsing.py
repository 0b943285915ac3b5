"""No job script reads a split, model or extractor name out of a file path: names reach scripts as
params or as the names of their inputs (``snakemake.input["<split>__<extractor>"]``), so renaming
the result layout cannot silently mislabel data."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the ways a name is cut out of a path
PATTERNS = {
    "a path's parent folder name": r"\.parent\.name\b",
    "a path part by position": r"\.parts\[",
    "a file name's stem": r"\.stem\b",
    "a path's ending": r"endswith\(f?[\"']/",
    "a path split at '/'": r"r?split\([\"']/[\"']",
    "a path's base name": r"basename\(",
}


def _offences(paths):
    found = []
    for path in paths:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            for what, pattern in PATTERNS.items():
                if re.search(pattern, line):
                    found.append(f"{path.relative_to(REPO)}:{n}: {what}: {line.strip()}")
    return found


def test_job_scripts_take_names_from_params_and_input_names():
    scripts = sorted((REPO / "workflow_scripts").glob("*.py"))
    assert len(scripts) >= 10
    assert _offences(scripts) == []


def test_the_check_has_teeth(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text('split = Path(p).parent.name\next = Path(p).parts[-3]\n'
                   'm = path.endswith(f"/{model}/val.parquet")\ns = p.rsplit("/", 1)[-1]\n')
    assert len(_offences_in(bad)) == 4


def _offences_in(path):
    global REPO
    saved, REPO = REPO, path.parent
    try:
        return _offences([path])
    finally:
        REPO = saved
