"""Faces on screen: MTCNN (facenet-pytorch, its P/R/O-net weights ship in the wheel) finds the
faces on each row's frame; the largest one with a detection probability of at least ``min_prob``
is the row's face.

Backend ``face_crop``: that face's square crop (the box squared on its longer side, ``margin`` of
it added on each side, zero-padded where it leaves the frame) embedded by EfficientNet-Lite0
(ImageNet, eevflow.features.efficientnet_lite; the crop resized to 224 px, bilinear antialiased)
or by facenet-pytorch's InceptionResnetV1 from a local checkpoint (160 px, ``(x - 127.5) / 128``,
its L2-normalised 512-D output), followed by the channels of
:data:`~eevflow.features.face_options.FACE_CHANNELS`: has_face (1), the box relative to the frame
(x, y, w, h, clipped to it) and MTCNN's probability. Rows without a face are all zeros (a
learned-neutral vector for the model; has_face 0).

The expression stream (``face_expression``) lives in eevflow.features.face_expression and shares
the detection code here. facenet-pytorch imports torchvision, which is imported through
eevflow.torchvision_compat first (PyPI's CUDA torchvision beside a CPU torch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from eevflow.decoding import Decoded
from eevflow.features import Extractor
from eevflow.features.face_options import FACE_CHANNELS, FaceCropOptions
from eevflow.features.efficientnet_lite import INPUT_SIZE as LITE0_SIZE
from eevflow.features.efficientnet_lite import WeightLoadError, embed_frames
from eevflow.features.efficientnet_lite import load_efficientnet_lite0
from eevflow.torchvision_compat import import_torchvision

FACENET_SIZE = 160  # InceptionResnetV1's input (facenet-pytorch's MTCNN image_size)


@dataclass(frozen=True)
class Face:
    """One detected face: the box in frame pixels (x1, y1, x2, y2) and MTCNN's probability."""

    x1: float
    y1: float
    x2: float
    y2: float
    prob: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def relative_box(self, size: int) -> np.ndarray:
        """(x, y, w, h) as fractions of the (square) frame side, the box clipped to the frame."""
        x1, x2 = np.clip([self.x1, self.x2], 0, size)
        y1, y2 = np.clip([self.y1, self.y2], 0, size)
        return np.array([x1, y1, x2 - x1, y2 - y1], np.float64) / size


def facenet_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("facenet-pytorch")
    except PackageNotFoundError:
        return "unknown"


def load_mtcnn(min_face_size: int = 12, thresholds=(0.6, 0.7, 0.7), factor: float = 0.709,
               device: str = "cpu"):
    """facenet-pytorch's MTCNN with its shipped weights (every face kept; we pick)."""
    import_torchvision()
    try:
        from facenet_pytorch import MTCNN
    except ImportError as exc:
        raise WeightLoadError(f"MTCNN: package 'facenet-pytorch' is not importable: {exc}") from exc
    return MTCNN(min_face_size=min_face_size, thresholds=list(thresholds), factor=factor,
                 keep_all=True, device=device).eval()


def largest_faces(mtcnn, frames, min_prob: float = 0.9, batch_size: int = 32) -> list[Face | None]:
    """Per frame (uint8 RGB (N, H, W, 3), all one size) the largest face whose probability is at
    least ``min_prob``, or None; ``batch_size`` frames per MTCNN call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out: list[Face | None] = []
    with torch.inference_mode():
        for lo in range(0, len(frames), batch_size):
            batch = np.ascontiguousarray(frames[lo : lo + batch_size])
            if batch.dtype != np.uint8 or batch.ndim != 4 or batch.shape[-1] != 3:
                raise ValueError(f"frames must be uint8 (N, H, W, 3) RGB, got {batch.dtype} "
                                 f"{batch.shape}")
            boxes, probs = mtcnn.detect(batch)
            for box, prob in zip(boxes, probs):
                faces = [] if box is None else [
                    Face(*(float(v) for v in b[:4]), float(p))
                    for b, p in zip(np.asarray(box, np.float64), np.asarray(prob, np.float64))
                    if p is not None and p >= min_prob
                ]
                # largest area; ties: the higher probability, then the upper-left box
                faces.sort(key=lambda f: (-f.area, -f.prob, f.y1, f.x1))
                out.append(faces[0] if faces else None)
    return out


def crop_square(frame: np.ndarray, box: tuple[float, float, float, float], fill=0) -> np.ndarray:
    """The square (x1, y1, x2, y2) pixel region of ``frame`` (H, W[, C]); the part outside the
    frame is ``fill``."""
    x1, y1, x2, y2 = (int(round(v)) for v in box)
    side = max(1, x2 - x1, y2 - y1)
    out = np.full((side, side) + frame.shape[2:], fill, frame.dtype)
    h, w = frame.shape[:2]
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x1 + side), min(h, y1 + side)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = frame[sy1:sy2, sx1:sx2]
    return out


def face_square(face: Face, margin: float) -> tuple[float, float, float, float]:
    """The face box squared on its longer side, ``margin`` of that side added on each side."""
    cx, cy = (face.x1 + face.x2) / 2, (face.y1 + face.y2) / 2
    side = max(face.x2 - face.x1, face.y2 - face.y1) * (1 + 2 * margin)
    return cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2


def resize_uint8(img: np.ndarray, size: int, antialias: bool = True) -> np.ndarray:
    """(h, w[, C]) uint8 -> (size, size[, C]) uint8, bilinear (half-pixel centres)."""
    x = torch.from_numpy(np.ascontiguousarray(img)).float()
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                      antialias=antialias).round().clamp(0, 255).to(torch.uint8)[0]
    return (y[0] if img.ndim == 2 else y.permute(1, 2, 0)).numpy()


def load_inception_resnet_v1(checkpoint: str, device: str = "cpu"):
    """facenet-pytorch's InceptionResnetV1 (512-D embeddings) from a local state dict, loaded
    strictly (a classifier head in the file, ``logits.*``, is dropped)."""
    import_torchvision()
    from facenet_pytorch import InceptionResnetV1

    path = os.fspath(checkpoint)
    if not os.path.isfile(path):
        raise WeightLoadError(f"InceptionResnetV1 checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightLoadError(f"cannot read InceptionResnetV1 checkpoint {path}: {exc}") from exc
    if not isinstance(state, dict):
        raise WeightLoadError(f"InceptionResnetV1 checkpoint {path} is not a state dict")
    state = {k: v for k, v in state.items() if not k.startswith("logits.")}
    model = InceptionResnetV1(pretrained=None, classify=False)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightLoadError(f"InceptionResnetV1 checkpoint {path} does not match the "
                              f"architecture: {exc}") from exc
    return model.to(device).eval()


class FaceDetectingExtractor(Extractor):
    """Shared by the face backends: MTCNN on every row's frame, the largest face per row."""

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self._mtcnn = None

    def detect_version(self) -> str:
        o = self.opts
        return (f"mtcnn=facenet-pytorch-{facenet_version()} min_face={o.min_face_size} "
                f"thresholds={list(o.thresholds)} factor={o.factor} min_prob={o.min_prob} "
                "pick=largest")

    def mtcnn(self):
        if self._mtcnn is None:
            torch.set_num_threads(max(1, self.threads))
            self._mtcnn = load_mtcnn(self.opts.min_face_size, self.opts.thresholds,
                                     self.opts.factor, self.device)
        return self._mtcnn

    def frames_of(self, video: Decoded):
        if video.frames is None:
            raise ValueError(f"extractor {self.name!r}: video {video.info.video_id} has no frames")
        return video.frames

    def batches(self, video: Decoded):
        """(first row, uint8 frames, their largest faces) per ``batch_size`` rows: each frame
        read once (JPEG shards decode on access)."""
        frames, bs = self.frames_of(video), self.opts.batch_size
        for lo in range(0, len(frames), bs):
            batch = np.asarray(frames[lo : lo + bs])
            yield lo, batch, largest_faces(self.mtcnn(), batch, self.opts.min_prob, bs)


class FaceCrop(FaceDetectingExtractor):
    """Backend ``face_crop``: the largest face's crop embedded, then has_face, box and prob."""

    options_class = FaceCropOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self._net = None

    @property
    def version(self) -> str:
        o = self.opts
        if o.embedder == "efficientnet_lite0":
            net = "efficientnet_lite0 weights=efficientnet-lite0-57934424 input=224"
        else:
            net = (f"inception_resnet_v1 checkpoint={os.path.basename(o.checkpoint)} "
                   f"size={os.path.getsize(o.checkpoint) if os.path.isfile(o.checkpoint) else 0}"
                   " input=160")
        return (f"face_crop-v1 {self.detect_version()} margin={o.margin} square=zero-pad "
                f"resize=bilinear-aa {net} channels={','.join(FACE_CHANNELS)}")

    def net(self):
        if self._net is None:
            torch.set_num_threads(max(1, self.threads))
            if self.opts.embedder == "efficientnet_lite0":
                self._net = load_efficientnet_lite0(device=self.device)
            else:
                self._net = load_inception_resnet_v1(self.opts.checkpoint, self.device)
        return self._net

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """uint8 (N, S, S, 3) crops at the network's size -> float32 (N, D)."""
        if self.opts.embedder == "efficientnet_lite0":
            return embed_frames(self.net(), crops, self.opts.batch_size, self.device)
        out = []
        with torch.inference_mode():
            for lo in range(0, len(crops), self.opts.batch_size):
                x = torch.from_numpy(crops[lo : lo + self.opts.batch_size]).permute(0, 3, 1, 2)
                x = ((x.float() - 127.5) / 128.0).to(self.device)
                out.append(self.net()(x).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.dim - len(FACE_CHANNELS)))

    def embed(self, video: Decoded) -> np.ndarray:
        out = np.zeros((len(self.frames_of(video)), self.dim), np.float32)
        size = LITE0_SIZE if self.opts.embedder == "efficientnet_lite0" else FACENET_SIZE
        for lo, frames, faces in self.batches(video):
            rows = [i for i, f in enumerate(faces) if f is not None]
            if not rows:
                continue
            crops = np.stack([resize_uint8(crop_square(frames[i], face_square(
                faces[i], self.opts.margin)), size) for i in rows])
            feats = self.embed_crops(crops)
            d = feats.shape[1]
            for k, i in enumerate(rows):
                f = faces[i]
                out[lo + i, :d] = feats[k]
                out[lo + i, d] = 1.0
                out[lo + i, d + 1 : d + 5] = f.relative_box(frames.shape[2])
                out[lo + i, d + 5] = f.prob
        return out
