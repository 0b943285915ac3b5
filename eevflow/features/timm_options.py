"""Options of the ``timm_image`` backend: a timm image model (default Swin-L ImageNet-22K, the EEV
2021 2nd place's image stream) with its weights from a local checkpoint file. Imports no model
library (the output size of the models in :data:`TIMM_DIMS` is known without timm)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from eevflow.features.options import BackendOptions, option

SWIN_L_22K = "swin_large_patch4_window7_224.ms_in22k"

#: timm architecture -> its pooled feature size (``num_features``); a model not listed needs
#: ``dim`` in the config (the size is then checked on the model once it is built)
TIMM_DIMS: dict[str, int] = {
    "swin_large_patch4_window7_224": 1536,
    "swin_large_patch4_window12_384": 1536,
    "swin_base_patch4_window7_224": 1024,
    "swin_base_patch4_window12_384": 1024,
    "swin_small_patch4_window7_224": 768,
    "swin_tiny_patch4_window7_224": 768,
}


def architecture(model: str) -> str:
    """A timm model name without its pretrained tag (``swin_large_...224.ms_in22k`` ->
    ``swin_large_...224``)."""
    return model.split(".", 1)[0]


@dataclass
class TimmImageOptions(BackendOptions):
    """A timm image model (default Swin-L ImageNet-22K, the 2nd place's 1536-D image stream) with
    the weights of a local checkpoint file: one pooled feature vector per frame."""

    backend: ClassVar[str] = "timm_image"
    modality: ClassVar[str] = "visual"
    module: ClassVar[str] = "eevflow.features.timm_image"
    # Swin-L at 224 px on 2 CPU cores, batch 8 (bench/bench_timm.py): 0.59 rows/s measured with
    # the cores shared (load ~5), ~1.4 (0.7 s/frame) on idle cores
    rows_per_s: ClassVar[float] = 1.0

    checkpoint: str = option(
        description="the model's weights: a local .safetensors or .pth/.bin file (a state dict, "
        "or a training checkpoint holding one under state_dict / model / state_dict_ema; "
        "original-format checkpoints go through timm's own conversion); relative: to the "
        "working directory", minLength=1)
    model: str = option(
        SWIN_L_22K, "timm model name (timm.list_models), built with pretrained=False and no "
        "classifier (num_classes=0: the pooled features)", minLength=1)
    dim: int | None = option(
        None, "expected embedding size, checked on the model; null: the model's num_features "
        f"(required for a model outside the known table: {', '.join(sorted(TIMM_DIMS))})",
        minimum=1)
    input_size: int | None = option(
        None, "side of the square the model sees: the decoded frame (decode.frame_size) is "
        "resized to it, bilinear antialiased; null: the model's default (224 for Swin-L 224)",
        minimum=16)
    batch_size: int = option(8, "frames per model call", minimum=1)

    def output_dim(self) -> int:
        if self.dim is not None:
            return self.dim
        return TIMM_DIMS[architecture(self.model)]

    def check(self):
        if self.dim is None and architecture(self.model) not in TIMM_DIMS:
            return [("dim", f"required for model {self.model!r} (its size is known here only "
                            f"for {sorted(TIMM_DIMS)})")]
        known = TIMM_DIMS.get(architecture(self.model))
        if self.dim is not None and known is not None and self.dim != known:
            return [("dim", f"{self.dim} does not match model {self.model!r} ({known})")]
        return []
