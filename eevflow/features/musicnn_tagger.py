"""Pretrained audio embeddings that work offline: musicnn's music-tagging CNNs.

The ``musicnn`` package (Pons & Serra, ISC licence) ships TensorFlow 1 checkpoints of its taggers
trained on MagnaTagATune (``MTT_musicnn``, 50 tags) and the Million Song Dataset
(``MSD_musicnn``, 50 tags). It is installed with ``--no-deps`` (its metadata pins numpy < 1.17);
its own ``extractor()`` is not used: importing it turns off eager execution for the whole process,
it computes the log-mel in float16 (which overflows on loud audio) and it swallows checkpoint load
errors. Here the graph is built with the package's ``models.define_model`` inside a private
``tf.Graph``, the checkpoint is restored with a ``Saver`` over every variable (a missing or
mismatched variable is a :class:`WeightLoadError`, never a random init), and the input is the
package's log-mel recipe in float32: librosa mel power spectrogram at 16 kHz, 512-point FFT,
hop 256, 96 bands, then ``log10(10000 x + 1)``.

One embedding per label row: the ``context_s`` seconds (3 s, the models' training input) of
spectrogram centred on the middle of the row's window; parts outside the track are silence
(log-mel 0). ``layer`` picks the representation: ``penultimate`` (200-D, the dense layer before the
tags), ``mean_pool`` / ``max_pool`` (753-D mid-end pooling) or ``taggram`` (the 50 tag
probabilities).
"""

from __future__ import annotations

import os
import threading
import warnings

import numpy as np

from eevflow.features import Extractor
from eevflow.features.efficientnet_lite import WeightLoadError
from typing import get_args

from eevflow.features.logmel import audio_windows
from eevflow.features.options import MUSICNN_LAYERS, MusicnnModel, MusicnnOptions
from eevflow.decoding import Decoded

SAMPLE_RATE = 16000
FFT_SIZE = 512
FFT_HOP = 256
N_MELS = 96
MODELS = get_args(MusicnnModel)
LAYERS = MUSICNN_LAYERS  # layer -> its size
_OUTPUT_INDEX = {"taggram": 0, "mean_pool": 6, "max_pool": 7, "penultimate": 8}
_LOCK = threading.Lock()


def context_frames(context_s: float) -> int:
    """Spectrogram frames in ``context_s`` seconds, as musicnn counts them (3 s -> 187)."""
    samples = int(round(context_s * SAMPLE_RATE))
    return max(1, (samples - FFT_SIZE // 2) // FFT_HOP + 1)


def log_mel(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """(frames, 96) float32 musicnn input of a mono track; frame t is centred on sample t * 256."""
    import librosa

    y = np.asarray(audio, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        y = librosa.resample(y, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    if len(y) == 0:
        y = np.zeros(1, np.float32)
    mel = librosa.feature.melspectrogram(
        y=y, sr=SAMPLE_RATE, hop_length=FFT_HOP, n_fft=FFT_SIZE, n_mels=N_MELS, dtype=np.float32
    )
    return np.log10(10000.0 * mel.T.astype(np.float32) + 1.0).astype(np.float32)


def row_patches(spec: np.ndarray, centres_s: np.ndarray, n_frames: int) -> np.ndarray:
    """(rows, n_frames, 96): the spectrogram window centred on each time, zero outside the track."""
    centre_frame = np.round(np.asarray(centres_s) * SAMPLE_RATE / FFT_HOP).astype(np.int64)
    first = centre_frame - n_frames // 2
    pad = n_frames
    padded = np.pad(spec, ((pad, pad), (0, 0)))
    first = np.clip(first + pad, 0, len(padded) - n_frames)
    idx = first[:, None] + np.arange(n_frames)[None, :]
    return padded[idx]


def checkpoint_dir(model: str) -> str:
    try:
        import musicnn
    except ImportError as exc:
        raise WeightLoadError(
            "musicnn weights: package 'musicnn' is not installed "
            "(pip install --no-deps musicnn==0.1.0; `make setup` does this)"
        ) from exc
    return os.path.join(os.path.dirname(musicnn.__file__), model)


class MusicnnModel:
    """A restored musicnn graph and session for fixed-length inputs."""

    def __init__(
        self,
        model: str = "MTT_musicnn",
        n_frames: int = 187,
        threads: int = 1,
        checkpoint: str | None = None,
        device: str = "cpu",
    ):
        if model not in MODELS:
            raise ValueError(f"musicnn model must be one of {list(MODELS)}, got {model!r}")
        # musicnn's layers are tf.compat.v1.layers, which TensorFlow 2.16+ serves from tf-keras.
        os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
        import tensorflow as tf

        ckpt = checkpoint or checkpoint_dir(model)
        prefix = ckpt if not os.path.isdir(ckpt) else ckpt.rstrip("/") + "/"
        if not os.path.isfile(prefix + ".index"):
            raise WeightLoadError(f"musicnn checkpoint not found: {prefix}(.index/.data-*)")
        from musicnn import configuration as mconf
        from musicnn import models as mmodels

        n_tags = len(mconf.MTT_LABELS if model.startswith("MTT") else mconf.MSD_LABELS)
        self.tags = list(mconf.MTT_LABELS if model.startswith("MTT") else mconf.MSD_LABELS)
        self.n_frames = n_frames
        self.graph = tf.Graph()
        with _LOCK, self.graph.as_default(), warnings.catch_warnings():
            # tf.compat.v1.layers warns on every layer that it is deprecated
            warnings.simplefilter("ignore", UserWarning)
            with tf.name_scope("model"):
                self.x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, N_MELS])
                self.is_training = tf.compat.v1.placeholder(tf.bool)
                outs = mmodels.define_model(self.x, self.is_training, model, n_tags)
            self.outputs = {name: outs[i] for name, i in _OUTPUT_INDEX.items()}
            self.outputs["taggram"] = tf.nn.sigmoid(outs[0])
            saver = tf.compat.v1.train.Saver()
            limits = {"GPU": 0} if str(device).startswith("cpu") else {}
            cfg = tf.compat.v1.ConfigProto(
                intra_op_parallelism_threads=max(1, threads),
                inter_op_parallelism_threads=1,
                device_count=limits,
            )
            self.session = tf.compat.v1.Session(graph=self.graph, config=cfg)
            try:
                saver.restore(self.session, prefix)
            except Exception as exc:  # NotFoundError, DataLossError, InvalidArgumentError, ...
                self.session.close()
                raise WeightLoadError(
                    f"cannot restore musicnn checkpoint {prefix}: {type(exc).__name__}: "
                    f"{str(exc).splitlines()[0]}"
                ) from exc

    def variable(self, name: str) -> np.ndarray:
        with self.graph.as_default():
            var = next(v for v in self.graph.get_collection("variables") if v.op.name == name)
            return self.session.run(var)

    def run(self, patches: np.ndarray, layer: str, batch_size: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(patches), batch_size):
            out.append(
                self.session.run(
                    self.outputs[layer],
                    {self.x: patches[i : i + batch_size], self.is_training: False},
                )
            )
        if not out:
            return np.zeros((0, LAYERS[layer]), np.float32)
        return np.concatenate(out).reshape(len(patches), -1).astype(np.float32)


class MusicnnExtractor(Extractor):
    options_class = MusicnnOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        o = self.opts
        self.model_name, self.layer, self.window_mode = o.model, o.layer, o.window
        self.context_s, self.batch_size = float(o.context_s), o.batch_size
        self._model = None

    @property
    def version(self) -> str:
        return (
            f"musicnn-0.1.0 model={self.model_name} layer={self.layer} context_s={self.context_s} "
            f"window={self.window_mode} logmel=float32"
        )

    def model(self) -> MusicnnModel:
        if self._model is None:
            self._model = MusicnnModel(
                self.model_name,
                context_frames(self.context_s),
                threads=self.threads,
                device=self.device,
            )
        return self._model

    def embed(self, video: Decoded) -> np.ndarray:
        sr = video.info.sample_rate
        starts, ends = audio_windows(len(video.audio), video.timestamps_us, sr, self.window_mode)
        centres_s = (starts + ends) / 2.0 / sr
        model = self.model()
        patches = row_patches(log_mel(video.audio, sr), centres_s, model.n_frames)
        return model.run(patches, self.layer, self.batch_size)
