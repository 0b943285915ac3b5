"""What every workflow script shares: logging to the job's log file and thread limits."""

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
    limit_threads(int(getattr(snakemake, "threads", 1) or 1))
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
