"""The workflow passes Snakemake's linter and snakefmt (as a user's CI would check)."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*cmd):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env, timeout=600)


def test_snakemake_lint():
    proc = _run(str(BIN / "snakemake"), "--lint")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "Lints for" not in proc.stdout + proc.stderr


def test_snakefmt():
    proc = _run(str(BIN / "snakefmt"), "--check", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
