"""Workflow scripts use the CPU threads and GPUs their job was given, never more."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# a job script in miniature: run_script with the fields Snakemake gives a script
JOB = """
import json, os, sys, types
from eevflow.runtime import run_script

sm = types.SimpleNamespace(log=[sys.argv[1]], threads=int(sys.argv[2]),
                           resources=types.SimpleNamespace(gpu=int(sys.argv[3]), mem_mb=3000,
                                                     runtime=45))

def main(sm):
    import torch
    print(json.dumps({
        "cuda_visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda_available": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
    }))

run_script(sm, main)
"""


def run_job(tmp_path, threads: int, gpu: int, cuda_visible: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    if cuda_visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = cuda_visible
    log = tmp_path / "job.log"
    proc = subprocess.run([sys.executable, "-c", JOB, str(log), str(threads), str(gpu)],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["log"] = log.read_text()
    return out


@pytest.mark.parametrize("threads", [1, 2])
def test_a_job_without_a_gpu_sees_none_and_uses_its_threads(tmp_path, threads):
    out = run_job(tmp_path, threads=threads, gpu=0, cuda_visible="0,1")
    assert out["cuda_visible"] == "" and out["cuda_available"] is False
    assert out["torch_threads"] == threads and out["omp"] == str(threads)
    assert "job resources: gpu=0, CUDA_VISIBLE_DEVICES=''" in out["log"]


def test_a_gpu_job_keeps_the_cards_its_scheduler_gave_it(tmp_path):
    out = run_job(tmp_path, threads=1, gpu=1, cuda_visible="3")  # as SLURM sets it
    assert out["cuda_visible"] == "3"
    assert "gpu=1, CUDA_VISIBLE_DEVICES='3'" in out["log"]


def test_the_log_records_the_memory_and_time_the_job_was_given(tmp_path):
    out = run_job(tmp_path, threads=2, gpu=0, cuda_visible=None)
    assert "threads=2, mem_mb=3000, runtime=45" in out["log"]
    out = run_job(tmp_path, threads=1, gpu=1, cuda_visible=None)  # local: left as it is
    assert out["cuda_visible"] is None
