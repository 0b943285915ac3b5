"""TF Hub handles: resolving a ``handle:`` (a URL, looked up in ``$TFHUB_CACHE_DIR`` first, or a
local SavedModel directory), loading it with ``tensorflow_hub.load``, and reading a model's output
(see ``eevflow.features.tfhub`` for the models and how each is called)."""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class HubLoadError(RuntimeError):
    """A TF Hub handle could not be loaded (no network and no cached copy, broken SavedModel)."""


@dataclass(frozen=True)
class ResolvedHandle:
    """Where a handle's SavedModel is (or would be) on disk."""

    handle: str
    kind: str  # "url" (via hub.load and TFHUB_CACHE_DIR) or "directory"
    path: str  # the SavedModel directory: $TFHUB_CACHE_DIR/<sha1(url)> for a URL


def tfhub_cache_dir() -> str:
    """The cache folder ``hub.load`` uses now: ``$TFHUB_CACHE_DIR`` (read at call time, as
    tensorflow_hub does), else its ``--tfhub_cache_dir`` flag, else ``<tmp>/tfhub_modules``."""
    env = os.environ.get("TFHUB_CACHE_DIR", "")
    if env:
        return env
    try:
        from tensorflow_hub import resolver

        return resolver.tfhub_cache_dir(use_temp=True)
    except Exception:  # pragma: no cover - tensorflow_hub internals moved
        return os.path.join(tempfile.gettempdir(), "tfhub_modules")


def cached_module_dir(url: str) -> str:
    """``$TFHUB_CACHE_DIR/<sha1 hex of the URL>``: where a copied SavedModel makes ``hub.load(url)``
    work offline."""
    return os.path.join(tfhub_cache_dir(), hashlib.sha1(url.encode("utf8")).hexdigest())


def _is_saved_model_dir(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in SAVED_MODEL_FILES)


def resolve_handle(handle: Any) -> ResolvedHandle:
    """Classify a handle: an ``http(s)://`` URL, or a local SavedModel directory; anything else
    raises ``ValueError``. Nothing is loaded or downloaded here."""
    if not isinstance(handle, str) or not handle.strip():
        raise ValueError(f"TF Hub handle must be a non-empty string, got {handle!r}")
    handle = handle.strip()
    if handle.lower().startswith(("https://", "http://")):
        return ResolvedHandle(handle, "url", cached_module_dir(handle))
    path = os.path.abspath(os.path.expanduser(handle))
    if os.path.isdir(path):
        if not _is_saved_model_dir(path):
            raise ValueError(
                f"TF Hub handle {handle!r} is a directory but not a SavedModel: it holds neither "
                f"{' nor '.join(SAVED_MODEL_FILES)}"
            )
        return ResolvedHandle(handle, "directory", path)
    raise ValueError(
        f"TF Hub handle {handle!r} is neither an http(s):// URL nor an existing SavedModel "
        "directory. Use a tfhub.dev URL (cached under $TFHUB_CACHE_DIR/<sha1 of the URL>/ for "
        "offline use) or the path of a folder holding saved_model.pb"
    )


def load_handle(handle: str):
    """``hub.load`` the handle (see :func:`resolve_handle`); failures raise :class:`HubLoadError`
    naming the handle and explaining ``TFHUB_CACHE_DIR``, with the library's error chained."""
    resolved = resolve_handle(handle)
    try:
        import tensorflow_hub as hub

        return hub.load(resolved.handle if resolved.kind == "url" else resolved.path)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:300] or type(exc).__name__
        if resolved.kind == "url":
            cached = os.path.isdir(resolved.path) and bool(os.listdir(resolved.path))
            state = (
                "exists but did not load as a SavedModel"
                if cached
                else "does not exist, so hub.load tried to download it"
            )
            hint = (
                f"The cache folder for this URL, {resolved.path} (TFHUB_CACHE_DIR="
                f"{os.environ.get('TFHUB_CACHE_DIR') or '<unset>'}), {state}. Without network, "
                "download the model on another machine and copy its SavedModel folder (the one "
                "holding saved_model.pb and variables/) to $TFHUB_CACHE_DIR/<sha1 hex of the URL>/"
                ", or set the extractor's `handle:` to a local SavedModel directory."
            )
            if os.environ.get("TFHUB_MODEL_LOAD_FORMAT", "").upper() == "UNCOMPRESSED":
                hint += " TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED bypasses the cache: unset it."
        else:
            hint = f"The directory {resolved.path} holds a SavedModel that TensorFlow cannot load."
        raise HubLoadError(f"could not load TF Hub handle {handle!r}: {detail}. {hint}") from exc


def _takes_training(fn) -> bool:
    """Whether a restored callable accepts ``training`` (as ``hub.KerasLayer`` checks)."""
    try:
        from tensorflow.python.util import tf_inspect

        spec = tf_inspect.getfullargspec(fn.__call__)
        return "training" in spec.args or "training" in spec.kwonlyargs
    except Exception:
        try:
            return "training" in inspect.signature(fn).parameters
        except (TypeError, ValueError):
            return False


def select_output(out, output_key, handle: str):
    """The embedding tensor in a model's output: a dict entry (``output_key`` a string, or the only
    entry), a tuple element (``output_key`` an index), or the tensor itself."""
    if isinstance(out, dict):
        if output_key is None:
            if len(out) == 1:
                return next(iter(out.values()))
            raise ValueError(
                f"{handle}: the model returns a dict with keys {sorted(out)}; set `output_key`"
            )
        if output_key not in out:
            raise ValueError(f"{handle}: output_key {output_key!r} not among {sorted(out)}")
        return out[output_key]
    if isinstance(out, (tuple, list)):
        if isinstance(output_key, int) and -len(out) <= output_key < len(out):
            return out[output_key]
        raise ValueError(
            f"{handle}: the model returns {len(out)} outputs; set `output_key` to the index of "
            f"the embedding (got {output_key!r})"
        )
    return out


def _check_dim(emb: np.ndarray, dim: int, handle: str) -> np.ndarray:
    if emb.ndim != 2 or emb.shape[1] != dim:
        raise ValueError(
            f"{handle}: expected embeddings of shape (n, {dim}), got {emb.shape}; "
            "set the extractor's `dim:` to the model's output size"
        )
    return emb


def _fingerprint(resolved: ResolvedHandle) -> str:
    """The SavedModel checksum of a local directory (a URL names an immutable version)."""
    if resolved.kind != "directory":
        return ""
    try:
        import tensorflow as tf

        fp = tf.saved_model.experimental.read_fingerprint(resolved.path)
        return f" saved_model_checksum={fp.saved_model_checksum}"
    except Exception:
        return ""
