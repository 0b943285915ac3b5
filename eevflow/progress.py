"""Progress lines of a long job, for its log file: tqdm's meter (done/total, elapsed<left, rate,
the caller's postfix) written to a ``logging`` logger as whole lines, at most one every
``EEVFLOW_PROGRESS_S`` seconds (default 5; 0: every step), plus one when the loop starts and a
final one when it ends (always, however short the job), e.g.::

    decode split train shard 000: 12/40 videos [00:31<01:12, 0.39 videos/s, rows=3041]

A job's log (eevflow.runtime.run_script's handlers) thus reads as lines, never a carriage-return
bar. The final line's rate is the whole run's (tqdm's overall rate, not its moving average).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from typing import Any

from tqdm import tqdm

ENV = "EEVFLOW_PROGRESS_S"
DEFAULT_INTERVAL_S = 5.0

# tqdm's meter without the bar; the rate always in units per second (a slow job's "2.56s/video"
# would read as a time); {unit} carries its leading space ("12/40 videos")
FORMAT = "{desc}: {n_fmt}/{total_fmt}{unit} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"
FORMAT_NO_TOTAL = "{desc}: {n_fmt}{unit} [{elapsed}, {rate_noinv_fmt}{postfix}]"

log = logging.getLogger(__name__)


def interval_s() -> float:
    """Seconds between progress lines: ``EEVFLOW_PROGRESS_S`` if set, else 5."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{ENV} must be a number of seconds >= 0, not {raw!r}")
    return value


class LogLines:
    """A file for tqdm: each status line tqdm writes (``\\r`` + meter + padding) becomes one
    record of ``logger`` (the same line twice in a row, as at a loop's end, once)."""

    def __init__(self, logger: logging.Logger, level: int = logging.INFO) -> None:
        self.logger, self.level, self.last = logger, level, None

    def write(self, s: str) -> int:
        line = " ".join(s.split())  # drops tqdm's \r and padding
        if line and line != self.last:
            self.logger.log(self.level, "%s", line)
            self.last = line
        return len(s)

    def flush(self) -> None:
        pass


class _Progress(tqdm):
    monitor_interval = 0  # no monitor thread: lines come from the job's own thread only
    _closing = False

    def display(self, msg=None, pos=None):
        if not self._closing and self.total and self.n >= self.total:
            return True  # the final line is close()'s, with the whole run's rate
        return super().display(msg, pos)

    def close(self):
        self._closing = True
        super().close()

    # a new postfix waits for the next line (tqdm's default prints one at once, every step)
    def set_postfix(self, ordered_dict=None, refresh=False, **kwargs):
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)

    def set_postfix_str(self, s="", refresh=False):
        super().set_postfix_str(s, refresh=refresh)


def progress(
    iterable: Iterable | None = None,
    *,
    desc: str,
    unit: str,
    total: float | None = None,
    logger: logging.Logger | None = None,
    level: int = logging.INFO,
    mininterval: float | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm over ``iterable`` (or, without one, updated by hand: ``bar.update(n)``; use it as a
    context manager so that its final line is logged) whose lines go to ``logger`` (default
    ``eevflow.progress``). ``unit``: what is counted (plural: "videos", "rows", "epochs");
    ``total``: defaults to ``len(iterable)`` where it has one; ``mininterval``: seconds between
    lines (default :func:`interval_s`). ``set_postfix(rows=...)`` adds the caller's counts."""
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    return _Progress(
        iterable,
        desc=desc,
        total=total,
        unit=f" {unit}",
        file=LogLines(logger or log, level),
        mininterval=interval_s() if mininterval is None else mininterval,
        miniters=1,  # look at the clock every step: a slow step never hides a due line
        maxinterval=float("inf"),
        ascii=True,
        leave=True,
        position=0,
        disable=False,  # tqdm's default disables itself on a file that is not a terminal
        dynamic_ncols=False,
        bar_format=FORMAT if total is not None else FORMAT_NO_TOTAL,
        **kwargs,
    )
