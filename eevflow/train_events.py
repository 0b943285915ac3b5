"""TensorBoard event files of a training run (``Trainer.fit(tensorboard_dir=...)``; the workflow's
``<results>/models/<variant>/tensorboard``, eevflow.layout): per epoch the scalars ``train/loss``,
``val/m_rho`` and ``train/lr`` of its history record (step = the epoch), and the run's settings
as text. Read them with ``tensorboard --logdir results/models``.

The folder holds one run's events only: opening it removes the event files already there, and a
resumed training writes the epochs of its restored history again before it continues, so every
epoch has exactly one value of each scalar (a killed job's events are not trusted: Snakemake
removes the folder, an incomplete output, before the job runs again). Writing touches no random
generator, so training stays bit-identical with or without events.
"""

from __future__ import annotations

import json
import logging
import sys
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# history record key -> scalar tag
SCALARS = {"train_loss": "train/loss", "val_m_rho": "val/m_rho", "lr": "train/lr"}
EVENT_GLOB = "events.out.tfevents.*"

log = logging.getLogger(__name__)


def _summary_writer():
    """torch's SummaryWriter. TensorBoard writes through TensorFlow when it can import it, which
    costs a train job seconds and hundreds of MB; unless TensorFlow is already loaded, its own
    TensorFlow-free file writer is used (TensorBoard's ``compat.notf`` switch; it holds for the
    rest of the process, where nothing of eevflow uses TensorBoard through TensorFlow)."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf",
                               types.ModuleType("tensorboard.compat.notf"))
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter


def _text(value: Any) -> str:
    """A text summary's markdown: strings as given, anything else as indented JSON (a code
    block)."""
    if isinstance(value, str):
        return value
    body = json.dumps(value, indent=2, sort_keys=True, default=str)
    return "\n".join("    " + line for line in body.splitlines())


class EpochEvents:
    """The event files of one training run in ``log_dir`` (created; its old event files
    removed). ``text``: tag -> markdown (or a value shown as JSON), written at step 0."""

    def __init__(self, log_dir: str | Path, text: Mapping[str, Any] | None = None) -> None:
        self.dir = Path(log_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob(EVENT_GLOB):
            old.unlink()
        self.writer = _summary_writer()(log_dir=str(self.dir))
        for tag, value in (text or {}).items():
            self.writer.add_text(tag, _text(value), 0)
        self.writer.flush()

    def record(self, rec: Mapping[str, Any], step: int) -> None:
        """One epoch's history record (its scalars that are numbers), flushed to disk."""
        for key, tag in SCALARS.items():
            value = rec.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(tag, float(value), step)
        self.writer.flush()

    def records(self, history: list[Mapping[str, Any]]) -> None:
        """Records in order, each at its ``epoch`` (its index where it has none, as the linear
        family's one record per ridge alpha)."""
        for i, rec in enumerate(history):
            epoch = rec.get("epoch")
            self.record(rec, epoch if isinstance(epoch, int) else i)

    def close(self) -> None:
        self.writer.close()


def open_events(log_dir: str | Path | None, text: Mapping[str, Any] | None = None,
                history: list[Mapping[str, Any]] | None = None) -> EpochEvents | None:
    """:class:`EpochEvents` in ``log_dir`` with ``history``'s records written (a resumed run's
    epochs), or None without a folder (no events)."""
    if log_dir is None:
        return None
    events = EpochEvents(log_dir, text)
    events.records(list(history or []))
    if history:
        log.info("tensorboard: %d epochs of the restored history written again to %s",
                 len(history), log_dir)
    return events
