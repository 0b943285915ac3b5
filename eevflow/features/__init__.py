"""Feature extractors: a registry of backends, each turning a decoded video into one embedding per
label row. An extractor entry in ``config.yaml`` names its backend and that backend's options
(declared once, as a typed class, in ``eevflow.features.options``); adding an extractor of an
existing backend is a config entry only.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from eevflow.decoding import Decoded
from eevflow.features.options import DECLARED, BackendOptions


class Extractor(ABC):
    """One configured extractor. Subclasses set ``options_class`` (which gives ``backend``,
    ``modality`` and the output size) and implement ``embed``."""

    options_class: ClassVar[type[BackendOptions]]
    backend: ClassVar[str]
    modality: ClassVar[str]  # "visual" (reads frames) or "audio" (reads the 16 kHz track)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "options_class" in cls.__dict__:
            cls.backend = cls.options_class.backend
            cls.modality = cls.options_class.modality

    def __init__(self, name: str, options: dict[str, Any], device: str = "cpu", threads: int = 1):
        self.name, self.device, self.threads = name, device, threads
        # validated and with the defaults filled in; raises OptionError naming extractors.<name>.<key>
        self.opts = self.options_class.from_dict(options, ("extractors", name))
        # the backend's (a class fact), or the user's where the backend has it declared
        # (precomputed features: eevflow.features.precomputed)
        self.modality = self.opts.modality

    @property
    def reads_media(self) -> bool:
        """False: the extract job reads no decoded shard (precomputed: the label rows)."""
        return self.options_class.reads_media

    @property
    def dim(self) -> int:
        return self.opts.output_dim()

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def embed(self, video: Decoded) -> np.ndarray:
        """float32 (n_rows, dim): one embedding per label row of the video."""

    def metadata(self) -> dict[str, str]:
        return {
            "extractor": self.name,
            "backend": self.backend,
            "modality": self.modality,
            "dim": str(self.dim),
            "version": self.version,
            # the extractor's config entry with every default filled in: a checkpoint trained on
            # these features rebuilds the extractor from it (eevflow.new_videos)
            "options": json.dumps({"backend": self.backend, **self.opts.to_dict()},
                                  sort_keys=True),
        }


def configure_tensorflow(threads: int, device: str = "cpu"):
    """Import TensorFlow limited to the job's threads (and its GPU choice); shared by the
    TensorFlow-based extractors."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process
        pass
    try:
        gpus = tf.config.list_physical_devices("GPU")
        if str(device).startswith("cpu"):
            tf.config.set_visible_devices([], "GPU")
        else:
            for gpu in gpus:  # leave GPU memory to others in the process until it is needed
                tf.config.experimental.set_memory_growth(gpu, True)
    except (RuntimeError, ValueError):  # already initialised
        pass
    return tf


def backends() -> dict[str, type[Extractor]]:
    """backend -> its Extractor class, found in the module its options class names."""
    import importlib

    from eevflow.features.options import BACKENDS

    table = {}
    for backend, opts in BACKENDS.items():
        module = importlib.import_module(opts.module)
        (cls,) = [
            c for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Extractor) and c.__dict__.get("options_class") is opts
        ]
        table[backend] = cls
    return table


def build_extractor(name: str, options: dict[str, Any], device="cpu", threads=1) -> Extractor:
    table = backends()
    backend = options.get("backend")
    if backend not in table:
        raise ValueError(f"extractor {name!r}: unknown backend {backend!r}; known: {sorted(table)}")
    cls = table[backend]
    if cls.modality != DECLARED and options.get("modality", cls.modality) != cls.modality:
        raise ValueError(
            f"extractor {name!r}: backend {backend!r} is {cls.modality}, "
            f"config says {options['modality']!r}"
        )
    return cls(name, options, device=device, threads=threads)
