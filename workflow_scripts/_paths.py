"""Make the eevflow package beside this folder importable in job scripts, installed or not.

Snakemake puts each script's own folder on sys.path; the package is one level up.
"""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
