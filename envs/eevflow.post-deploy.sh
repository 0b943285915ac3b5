#!/usr/bin/env bash
# Run by Snakemake in the freshly created eevflow conda env (--sdm conda). Keep in sync with
# requirements-nodeps.txt (tests/test_envs.py checks it).
set -euo pipefail
python -m pip install --no-deps musicnn==0.1.0 scikit-video==1.1.11 timm==1.0.31 \
    facenet-pytorch==2.6.0 fer==25.10.3
