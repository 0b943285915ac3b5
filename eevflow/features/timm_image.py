"""Backend ``timm_image``: a timm image model with the weights of a local checkpoint file (default
Swin-L ImageNet-22K, ``swin_large_patch4_window7_224.ms_in22k``: the EEV 2021 2nd place's image
stream, 1536-D pooled features at 224 px).

- Model: ``timm.create_model(model, pretrained=False, num_classes=0)`` (timm's own model code; no
  classifier, so the output is the pooled ``num_features`` vector); an ``input_size`` other than
  the model's default is passed as ``img_size`` to models with a fixed input size (Swin).
- Weights: read by timm's ``load_state_dict`` (``.safetensors``, or a ``torch.load`` file read
  with ``weights_only``; a training checkpoint's ``state_dict_ema`` / ``model`` / ``state_dict``
  entry, ``module.`` prefixes stripped: what ``pretrained_cfg_overlay=dict(file=path)`` reads),
  then the model module's ``checkpoint_filter_fn`` where it has one (it converts Microsoft's
  original Swin checkpoints), classifier keys (``pretrained_cfg["classifier"]``) dropped, and
  loaded strictly: a missing, unreadable or ill-fitting file is a :class:`CheckpointError`
  naming the extractor, the file and a few missing / unexpected / mis-shaped keys.
- Input: the decoded frame (uint8 RGB square, ``decode.frame_size``) resized bilinear with
  antialiasing to the model's input size, scaled to [0, 1] and normalised with the model's
  mean/std (timm's ``resolve_data_config``). No centre crop: the decoder's letterboxed square is
  the whole picture.
- Version: model name, timm version, the checkpoint's SHA-256 (so new weights in the same file
  give new features), input size, normalisation.
"""

from __future__ import annotations

import hashlib
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

from eevflow.decoding import Decoded
from eevflow.features import Extractor
from eevflow.features.timm_options import TimmImageOptions
from eevflow.torchvision_compat import import_torchvision

_SHA256: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> hex digest


class CheckpointError(RuntimeError):
    """A timm checkpoint file that is missing, unreadable or does not fit the model."""


def import_timm():
    """timm, with torchvision imported first through eevflow.torchvision_compat."""
    import_torchvision()
    import timm

    return timm


def file_sha256(path: str) -> str:
    """SHA-256 of a file, cached per (path, size, mtime)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _SHA256:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA256[key] = h.hexdigest()
    return _SHA256[key]


def _few(keys, n: int = 5) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def _classifier_keys(model, state: dict) -> list[str]:
    names = model.pretrained_cfg.get("classifier") or ()
    names = (names,) if isinstance(names, str) else tuple(names)
    return [k for k in state if any(k.startswith(c + ".") or k == c for c in names)]


def read_checkpoint(path: str, model, where: str) -> dict[str, torch.Tensor]:
    """The state dict of ``path`` fitted to ``model`` (timm's reader and filter, classifier keys
    dropped), checked key by key; :class:`CheckpointError` naming ``where`` and the file."""
    from timm.models import load_state_dict

    if not os.path.isfile(path):
        raise CheckpointError(f"{where}: checkpoint file not found: {path}")
    try:
        state = load_state_dict(path, device="cpu", weights_only=True)
    except Exception as exc:  # truncated / not safetensors / bad pickle / permissions
        raise CheckpointError(f"{where}: cannot read checkpoint {path}: "
                              f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not state or not all(
            isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{where}: checkpoint {path} is not a state dict of tensors")
    filter_fn = getattr(sys.modules.get(type(model).__module__), "checkpoint_filter_fn", None)
    if filter_fn is not None:
        try:
            state = filter_fn(state, model)
        except Exception as exc:
            raise CheckpointError(f"{where}: checkpoint {path} does not fit the model "
                                  f"(timm's conversion failed: {type(exc).__name__}: {exc})") from exc
    for k in _classifier_keys(model, state):
        del state[k]
    expected = model.state_dict()
    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    shaped = {k for k in set(state) & set(expected) if state[k].shape != expected[k].shape}
    if missing or unexpected or shaped:
        parts = [f"{label} {len(ks)}: {_few(ks)}" for label, ks in
                 (("missing keys", missing), ("unexpected keys", unexpected),
                  ("shape mismatches", shaped)) if ks]
        raise CheckpointError(f"{where}: checkpoint {path} does not fit the architecture: "
                              + "; ".join(parts))
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{where}: checkpoint {path} holds non-finite values in {_few(bad)}")
    return state


class TimmImageExtractor(Extractor):
    """Backend ``timm_image``: one pooled feature vector per label row, from that row's frame."""

    options_class = TimmImageOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self.where = f"extractor {name!r} (extractors.{name}.checkpoint)"
        # the file is read on first use (version, model): building loads nothing
        self.checkpoint = os.path.abspath(self.opts.checkpoint)
        timm = import_timm()
        if not timm.is_model(self.opts.model):
            raise ValueError(f"extractor {name!r}: extractors.{name}.model {self.opts.model!r} is "
                             "not a timm model (timm.list_models)")
        from timm.data import resolve_data_config
        from timm.models import get_pretrained_cfg

        cfg = get_pretrained_cfg(self.opts.model)
        self.cfg = resolve_data_config(pretrained_cfg=cfg.to_dict() if cfg else {})
        self.fixed_size = bool(cfg and cfg.fixed_input_size)
        self.default_size = int(self.cfg["input_size"][-1])
        self.input_size = int(self.opts.input_size or self.default_size)
        self.mean = tuple(float(v) for v in self.cfg["mean"])
        self.std = tuple(float(v) for v in self.cfg["std"])
        self._model = None

    def _check_file(self) -> None:
        if not os.path.isfile(self.checkpoint):
            raise CheckpointError(f"{self.where}: checkpoint file not found: {self.checkpoint}")

    @property
    def version(self) -> str:
        self._check_file()
        timm = import_timm()
        return (f"timm_image-v1 model={self.opts.model} timm={timm.__version__} "
                f"checkpoint_sha256={file_sha256(self.checkpoint)} input={self.input_size} "
                f"resize=bilinear-aa mean={self.mean} std={self.std}")

    def model(self):
        if self._model is None:
            self._check_file()
            timm = import_timm()
            torch.set_num_threads(max(1, self.threads))
            kwargs = {}
            if self.input_size != self.default_size and self.fixed_size:
                kwargs["img_size"] = self.input_size
            try:
                model = timm.create_model(self.opts.model, pretrained=False, num_classes=0,
                                          **kwargs)
            except Exception as exc:
                raise ValueError(f"extractor {self.name!r}: timm cannot build {self.opts.model!r}"
                                 f" at input_size {self.input_size}: {exc}") from exc
            if model.num_features != self.dim:
                raise ValueError(f"extractor {self.name!r}: model {self.opts.model!r} gives "
                                 f"{model.num_features}-D features, the config says dim "
                                 f"{self.dim}: set the extractor's `dim:`")
            state = read_checkpoint(self.checkpoint, model, self.where)
            model.load_state_dict(state, strict=True)
            self._model = model.to(self.device).eval()
        return self._model

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 RGB (N, S, S, 3) -> float32 (N, 3, input_size, input_size), normalised."""
        if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
            raise ValueError(f"extractor {self.name!r}: frames must be a uint8 numpy array, got "
                             f"{getattr(frames, 'dtype', type(frames))}")
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.shape[1] != frames.shape[2]:
            raise ValueError(f"extractor {self.name!r}: frames must be (N, S, S, 3) RGB, got "
                             f"{frames.shape}")
        x = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).float() / 255.0
        if x.shape[-1] != self.input_size and len(x):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                              align_corners=False, antialias=True)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous()

    def embed_frames(self, frames: np.ndarray) -> np.ndarray:
        """float32 (N, dim), ``batch_size`` frames per model call (memmaps welcome)."""
        self.preprocess(frames[:0])  # validates, also for N == 0
        out = np.empty((len(frames), self.dim), dtype=np.float32)
        if not len(frames):
            return out
        model, bs = self.model(), self.opts.batch_size
        with torch.inference_mode():
            for lo in range(0, len(frames), bs):
                x = self.preprocess(frames[lo : lo + bs]).to(self.device)
                y = model(x)
                if y.ndim != 2 or y.shape[1] != self.dim:
                    raise ValueError(f"extractor {self.name!r}: model {self.opts.model!r} gave "
                                     f"{tuple(y.shape)}, expected (batch, {self.dim})")
                out[lo : lo + len(x)] = y.float().cpu().numpy()
        return out

    def embed(self, video: Decoded) -> np.ndarray:
        if video.frames is None:
            raise ValueError(f"extractor {self.name!r}: video {video.info.video_id} has no frames")
        return self.embed_frames(video.frames)
