"""Options of the clip-level backends (they read the clip stream, eevflow.clips): S3D trained with
MIL-NCE, MGN-MA's action stream. Imports no model library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from eevflow.features.options import BackendOptions, option

S3D_MIL_NCE_URL = "https://tfhub.dev/deepmind/mil-nce/s3d/1"
S3D_OUTPUTS = {"video_embedding": 512, "mixed_5c": 1024}


@dataclass
class S3DClipOptions(BackendOptions):
    """S3D MIL-NCE (TF Hub ``deepmind/mil-nce/s3d/1``): the ``video`` signature on ``frames`` grid
    frames (``clips.fps``, 10 as trained) around each label row, RGB in [0, 1]; 512-D
    ``video_embedding`` or 1024-D ``mixed_5c``."""

    backend: ClassVar[str] = "s3d_clip"
    modality: ClassVar[str] = "visual"
    module: ClassVar[str] = "eevflow.features.s3d_clip"
    rows_per_s: ClassVar[float] = 1.0
    input_stream: ClassVar[str] = "clips"

    handle: str = option(
        S3D_MIL_NCE_URL, "a tfhub.dev URL (TFHUB_CACHE_DIR, then its Kaggle handle via "
        "kagglehub), a Kaggle Models URL or kaggle:owner/model/framework/variation/version "
        "handle, or a SavedModel directory", minLength=1)
    output: Literal["video_embedding", "mixed_5c"] = option(
        "video_embedding", "the signature's output: video_embedding (512-D, the joint "
        "video-text space) or mixed_5c (1024-D, the pooled last block)")
    frames: int = option(32, "grid frames per clip, centred on the row (32: 3.2 s at 10 fps)",
                         minimum=1)
    stride: int = option(1, "one clip every `stride` rows; the rows between hold the previous "
                         "clip's embedding", minimum=1)
    batch_size: int = option(8, "clips per model call", minimum=1)

    def output_dim(self) -> int:
        return S3D_OUTPUTS[self.output]
