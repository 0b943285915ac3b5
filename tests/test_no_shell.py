"""No shell command is built from a video ID, a path or a config value: rules run Python scripts
(`script:`), and neither the package nor the job scripts start a shell."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_rules_use_scripts_not_shell_commands():
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = smk.read_text()
        assert not re.search(r"^\s*(shell|run):", text, re.M), smk
        assert "shell(" not in text, smk


def test_code_never_starts_a_shell():
    pattern = re.compile(r"shell\s*=\s*True|os\.system\(|os\.popen\(|subprocess\.getoutput")
    for py in [*(REPO / "eevflow").rglob("*.py"), *(REPO / "workflow_scripts").glob("*.py")]:
        assert not pattern.search(py.read_text()), py
