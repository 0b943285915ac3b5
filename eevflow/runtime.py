"""What every workflow script shares: logging to the job's log file, and the job's CPU threads and
GPUs as its rule declared them (``threads:``, ``resources: gpu``)."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable


def run_script(snakemake, main: Callable) -> None:
    """Run ``main(snakemake)`` with logging to the job's log; a failure is logged, then re-raised."""
    log_path = snakemake.log[0] if len(snakemake.log) else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    threads = int(getattr(snakemake, "threads", 1) or 1)
    limit_threads(threads)
    limit_gpus(_gpu_resource(snakemake), asked=_asked(snakemake, threads))
    try:
        main(snakemake)
    except Exception:
        logging.getLogger("eevflow").error("job failed:\n%s", traceback.format_exc())
        raise


def limit_threads(n: int) -> None:
    """Use the CPUs the job was given, never more (torch, TF and BLAS read these)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass


def _gpu_resource(snakemake) -> int:
    resources = getattr(snakemake, "resources", None)
    try:
        return int(getattr(resources, "gpu", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _asked(snakemake, threads: int) -> str:
    """What the job was given besides GPUs (threads, ``mem_mb``, ``runtime`` in minutes), for its
    log: a retried job (profiles: ``retries``) shows the larger requests of its new attempt, and
    its peak memory (the ``benchmark:`` file's ``max_rss``) can be read against ``mem_mb``."""
    resources = getattr(snakemake, "resources", None)
    parts = [f"threads={threads}"]
    for key in ("mem_mb", "runtime"):
        value = getattr(resources, key, None)
        if value is not None:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def limit_gpus(n: int, asked: str = "") -> None:
    """Use the GPUs the job was given, never more.

    A job given no GPU (``gpu: 0``: decoding, log-mel, the CPU-side rules) sees none, so
    TensorFlow cannot take a card's memory from a training job next to it. A job given GPUs keeps
    the ``CUDA_VISIBLE_DEVICES`` its scheduler set (SLURM sets it to the allocated cards); run
    locally with it unset, the job uses the first card, and the default profile's global
    ``gpu=1`` keeps a second GPU job from running beside it. Must run before CUDA is initialised
    (importing torch does not initialise it).
    """
    if n <= 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    logging.getLogger("eevflow").info(
        "job resources: gpu=%d, CUDA_VISIBLE_DEVICES=%r%s",
        n, os.environ.get("CUDA_VISIBLE_DEVICES"), f", {asked}" if asked else "",
    )
