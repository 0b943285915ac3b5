"""Options of the face backends (eevflow.features.faces, eevflow.features.face_expression): ``face_crop`` (the largest face's crop
embedded by an image network) and ``face_expression`` (fer's mini-Xception expression
probabilities of that face). Both find the faces with the same MTCNN options. Like
eevflow.features.options, this module imports no model library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from eevflow.features.options import EFFICIENTNET_LITE0_DIM, BackendOptions, option

#: the channels after the embedding: has_face (1/0), the face box relative to the frame
#: (x, y, w, h, each in [0, 1]) and MTCNN's detection probability
FACE_CHANNELS = ("has_face", "box_x", "box_y", "box_w", "box_h", "face_prob")
INCEPTION_RESNET_V1_DIM = 512
FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@dataclass
class _FaceDetectOptions(BackendOptions):
    modality: ClassVar[str] = "visual"
    module: ClassVar[str] = "eevflow.features.faces"

    min_face_size: int = option(
        12, "MTCNN: smallest face side in pixels of the decoded frame (faces in a 224 px frame "
        "are small; MTCNN's own default is 20)", minimum=12)
    thresholds: list[float] = option(
        [0.6, 0.7, 0.7], "MTCNN: the P-, R- and O-net score thresholds", minItems=3, maxItems=3,
        items={"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1})
    factor: float = option(0.709, "MTCNN: the image pyramid's scale step", exclusiveMinimum=0,
                           exclusiveMaximum=1)
    min_prob: float = option(0.9, "faces MTCNN gives a lower probability count as none",
                             minimum=0, maximum=1)


@dataclass
class FaceCropOptions(_FaceDetectOptions):
    """The largest face on screen (MTCNN), its square crop embedded by EfficientNet-Lite0
    (ImageNet) or a local InceptionResnetV1 face-recognition checkpoint; then has_face, the box
    and the detection probability. Rows without a face: zeros."""

    backend: ClassVar[str] = "face_crop"
    rows_per_s: ClassVar[float] = 12.0

    embedder: Literal["efficientnet_lite0", "inception_resnet_v1"] = option(
        "efficientnet_lite0", "the crop's network: efficientnet_lite0 (the shipped ImageNet "
        "weights, 1280-D) or inception_resnet_v1 (facenet-pytorch's, 512-D; needs checkpoint)")
    checkpoint: str | None = option(
        None, "inception_resnet_v1: a local .pt state dict (its pretrained weights are a GitHub "
        "download, not in the wheel)", minLength=1)
    margin: float = option(0.2, "context added on each side of the face box, as a fraction of "
                           "its longer side, before the square crop", minimum=0)
    batch_size: int = option(32, "frames per MTCNN call and crops per network call", minimum=1)

    def output_dim(self) -> int:
        base = EFFICIENTNET_LITE0_DIM if self.embedder == "efficientnet_lite0" else \
            INCEPTION_RESNET_V1_DIM
        return base + len(FACE_CHANNELS)

    def check(self):
        if self.embedder == "inception_resnet_v1" and self.checkpoint is None:
            return [("checkpoint", "required with embedder inception_resnet_v1 (a local .pt "
                     "state dict of facenet-pytorch's InceptionResnetV1)")]
        if self.embedder == "efficientnet_lite0" and self.checkpoint is not None:
            return [("checkpoint", "only for embedder inception_resnet_v1")]
        return []


@dataclass
class FaceExpressionOptions(_FaceDetectOptions):
    """fer's shipped mini-Xception on the largest face (MTCNN): the 7 expression probabilities
    (angry, disgust, fear, happy, sad, surprise, neutral) and has_face. Rows without a face:
    zeros."""

    backend: ClassVar[str] = "face_expression"
    module: ClassVar[str] = "eevflow.features.face_expression"
    rows_per_s: ClassVar[float] = 15.0

    offset_px: int = option(10, "pixels added on each side of the squared face box before the "
                            "64x64 grey crop (fer's offsets)", minimum=0)
    batch_size: int = option(32, "frames per MTCNN call and faces per classifier call",
                             minimum=1)

    def output_dim(self) -> int:
        return len(FER_LABELS) + 1
