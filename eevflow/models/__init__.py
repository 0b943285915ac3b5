"""Sequence models, one module per family (``tcn.py``). A variant's ``model.type`` picks the family
through the registry of option classes (``eevflow.models.options.FAMILIES``); each family module
exposes ``CONFIG`` (its options plus ``input_dim`` and ``n_targets``) and ``MODEL`` (an
``nn.Module`` built from a ``CONFIG``, called as ``model(features (B, T, D), seconds (B, T))``).
Nothing is imported here until a model is built: the Snakefile imports this package's options."""

from __future__ import annotations

import importlib
from typing import Any

from eevflow.models.options import family_options


def family_module(family: str):
    return importlib.import_module(family_options(family).module)


def model_config(family: str, options: dict[str, Any], input_dim: int, n_targets: int,
                 streams: list[list] | None = None, target_range: Any = "default"):
    """The family's config from a variant's ``model:`` options (validated; ``type`` dropped).
    ``streams``: ``[extractor, dim, modality]`` per block of the features, for the families that
    treat the blocks apart (their config has a ``streams`` field). ``target_range``: the config's
    ``target_range`` (``[lo, hi]`` or None, eevflow.targets), for the families whose output
    activation follows it (their config has a ``target_range`` field; "default": [0, 1])."""
    opts = family_options(family).from_dict(options)
    config = family_module(family).CONFIG
    fields = config.__dataclass_fields__
    extra: dict[str, Any] = {"streams": streams} if streams and "streams" in fields else {}
    if target_range != "default" and "target_range" in fields:
        extra["target_range"] = None if target_range is None else [float(v) for v in target_range]
    return config(input_dim=input_dim, n_targets=n_targets, **opts.to_dict(), **extra)


def config_from_dict(family: str, values: dict[str, Any]):
    """A family config as a checkpoint stores it."""
    return family_module(family).CONFIG(**values)


def build_model(config):
    """The family's network for a config made by :func:`model_config`."""
    return family_module(config.family).MODEL(config)
