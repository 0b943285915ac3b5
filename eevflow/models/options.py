"""The options of every model family (a variant's ``model:``, the family picked by ``model.type``)
and of training (a variant's ``training:``), one typed class each.

The schema's ``definitions.model_<family>`` and ``definitions.training`` are generated from these
classes (``scripts/gen_schema.py``), and their defaults are the paper's (configs/eev_paper.yaml
states them again so that the reproduction does not depend on defaults). No torch import here:
the Snakefile reads this module when it parses the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from eevflow.options import Options, option


@dataclass
class FamilyOptions(Options):
    """Base of the model-family option classes: ``family`` (the ``model.type`` value) and the
    module that implements it (its code fingerprint) are class facts."""

    family: ClassVar[str]
    module: ClassVar[str]
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("type",)


@dataclass
class TCNOptions(FamilyOptions):
    """The winner's temporal convolution network with positional encoding (causal, residual)."""

    family: ClassVar[str] = "tcn"
    module: ClassVar[str] = "eevflow.models.tcn"

    channels: int = option(512, "width (channels) of every TCN convolution", minimum=1)
    kernel_size: int = option(3, "kernel size of the causal convolutions (in label steps)",
                              minimum=2)
    dilations: list[int] = option([1, 2, 4, 8], "dilation of each temporal block of a stack, in "
                                  "order", minItems=1, items={"minimum": 1})
    stacks: int = option(1, "how many times the blocks of `dilations` are repeated", minimum=1)
    dropout: float = option(0.3, "dropout probability after each convolution", minimum=0,
                            maximum=1)
    weight_norm: bool = option(False, "apply weight normalisation to the convolutions")
    positional_encoding: Literal["timestamp", "sinusoidal", "none"] = option(
        "timestamp", "channel(s) added to the features: the row's timestamp in seconds (the "
        "authors'), a sinusoidal encoding of it (pe_dim channels), or none"
    )
    pe_dim: int = option(16, "channels of the sinusoidal positional encoding (even)", minimum=2,
                         multipleOf=2)
    head_hidden: int = option(128, "hidden width of the output head (Linear, ReLU, Linear)",
                              minimum=1)


@dataclass
class TrainingOptions(Options):
    """How a variant is trained (the winner's: SGD, one video per forward pass, 32 accumulated)."""

    epochs: int = option(20, "passes over the training videos", minimum=1)
    optimizer: Literal["sgd", "adam"] = option("sgd", "optimiser: SGD (the paper's) or Adam")
    lr: float = option(5e-3, "learning rate", exclusiveMinimum=0)
    momentum: float = option(0.0, "SGD momentum (unused by Adam)", minimum=0)
    weight_decay: float = option(0.0, "L2 weight decay of the optimiser", minimum=0)
    grad_accum: int = option(32, "videos per optimiser step (one video per forward pass, "
                             "gradients summed)", minimum=1)
    seed: int = option(0, "random seed (weight init, dropout, video order, label shuffling)")
    selection: Literal["best_val", "last"] = option(
        "best_val", "model kept: the epoch with the best validation M_rho, or the last epoch"
    )
    shuffle_labels: bool = option(False, "control: permute the labelled rows across the whole "
                                  "training set")
    standardize: bool = option(True, "z-score the features with the training set's mean and std")
    device: Literal["auto", "cpu", "cuda"] = option(
        "auto", "torch device: auto (CUDA when available, else CPU), cpu or cuda"
    )


FAMILIES: dict[str, type[FamilyOptions]] = {cls.family: cls for cls in (TCNOptions,)}
DEFAULT_FAMILY = "tcn"


def family_options(family: str) -> type[FamilyOptions]:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown model type {family!r}; known: {sorted(FAMILIES)}") from None


def model_type(model: dict[str, Any] | None) -> str:
    """The family a variant's ``model:`` block picks (``type``, default tcn)."""
    return (model or {}).get("type", DEFAULT_FAMILY)
