"""Model hub handles: resolving a ``handle:``, loading its SavedModel with ``tensorflow_hub.load``,
and reading a model's output (see ``eevflow.features.tfhub`` for the models and their calls).

A handle is one of

- a **tfhub.dev URL** (any ``http(s)://`` URL that is not a Kaggle one), e.g.
  ``https://tfhub.dev/google/yamnet/1``. Tried in order: ``$TFHUB_CACHE_DIR/<sha1 hex of the
  URL>/`` when it holds a model (no network); then, when the URL is in
  :data:`eevflow.features.hub_map.TFHUB_TO_KAGGLE`, its Kaggle handle through ``kagglehub``
  (its cache first, no network on a hit); then ``hub.load(URL)``, which downloads;
- a **Kaggle Models URL** ``https://www.kaggle.com/models/<owner>/<model>/<framework>/<variation>/
  <version>`` (the long ``.../frameworks/<f>/variations/<v>/versions/<n>`` form too; a query such
  as ``?tfhub-redirect=true`` is ignored), or a **kagglehub handle** written
  ``kaggle:<owner>/<model>/<framework>/<variation>/<version>``: the prefix keeps it apart from a
  relative path. Loaded from ``kagglehub.model_download(handle)``, whose cache is
  ``$KAGGLEHUB_CACHE`` (default ``~/.cache/kagglehub``) ``/models/<owner>/<model>/<framework>/
  <variation>/<version>/`` with the marker file ``.../<variation>/<version>.complete``: with both
  present nothing is downloaded. The version is required (without it kagglehub asks the network
  for the latest); ``tensorflow1``/``tensorflow2`` are spelt ``tensorFlow1``/``tensorFlow2``, as
  Kaggle does, so a URL and a handle share one cache folder;
- a **local SavedModel folder** (holding ``saved_model.pb``).

A failed load raises :class:`HubLoadError` naming every handle tried, why each failed, and the
offline alternatives (a local folder, the TF Hub cache folder, the kagglehub cache folder and its
marker), with the library's error chained.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import tempfile
import urllib.parse
from dataclasses import dataclass
from typing import Any

import numpy as np

from eevflow.features.hub_map import UNVERIFIED, kaggle_handle_for

SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")
KAGGLE_PREFIX = "kaggle:"
KAGGLE_HOSTS = ("www.kaggle.com", "kaggle.com")
FRAMEWORK_SPELLING = {"tensorflow1": "tensorFlow1", "tensorflow2": "tensorFlow2"}


class HubLoadError(RuntimeError):
    """A model handle could not be loaded (no network and no cached copy, broken SavedModel)."""


@dataclass(frozen=True)
class KaggleHandle:
    """A versioned Kaggle Models handle and where kagglehub caches it."""

    owner: str
    model: str
    framework: str
    variation: str
    version: int

    def __str__(self) -> str:
        return f"{self.owner}/{self.model}/{self.framework}/{self.variation}/{self.version}"

    @property
    def url(self) -> str:
        return "https://www.kaggle.com/models/" + str(self)

    def cache_dir(self) -> str:
        """``<kagglehub cache>/models/<owner>/<model>/<framework>/<variation>/<version>``."""
        return os.path.join(self._variation_dir(), str(self.version))

    def marker(self) -> str:
        """The file kagglehub writes once the download is complete (a hit needs it)."""
        return os.path.join(self._variation_dir(), f"{self.version}.complete")

    def cached(self) -> bool:
        return os.path.isdir(self.cache_dir()) and os.path.isfile(self.marker())

    def _variation_dir(self) -> str:
        return os.path.join(kagglehub_cache_dir(), "models", self.owner, self.model,
                            self.framework, self.variation)


@dataclass(frozen=True)
class ResolvedHandle:
    """Where a handle's SavedModel is (or would be) on disk."""

    handle: str
    kind: str  # "url" (hub.load, TFHUB_CACHE_DIR), "kaggle" (kagglehub) or "directory"
    path: str  # $TFHUB_CACHE_DIR/<sha1(url)>, the kagglehub cache folder, or the directory
    kaggle: KaggleHandle | None = None  # kind "kaggle": the handle; "url": the mapped one, if any


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


def kagglehub_cache_dir() -> str:
    """kagglehub's cache root: ``$KAGGLEHUB_CACHE``, else ``~/.cache/kagglehub`` (as
    ``kagglehub.config.get_cache_folder``)."""
    return os.environ.get("KAGGLEHUB_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kagglehub")


def cached_module_dir(url: str) -> str:
    """``$TFHUB_CACHE_DIR/<sha1 hex of the URL>``: where a copied SavedModel makes ``hub.load(url)``
    work offline."""
    return os.path.join(tfhub_cache_dir(), hashlib.sha1(url.encode("utf8")).hexdigest())


def _is_saved_model_dir(path: str) -> bool:
    return any(os.path.isfile(os.path.join(path, f)) for f in SAVED_MODEL_FILES)


def parse_kaggle_handle(text: str, source: str | None = None) -> KaggleHandle:
    """``owner/model/framework/variation/version`` (or the long URL path form) as a handle."""
    parts = [p for p in text.strip("/").split("/") if p]
    if len(parts) == 8 and (parts[2], parts[4], parts[6]) == ("frameworks", "variations",
                                                               "versions"):
        parts = [parts[0], parts[1], parts[3], parts[5], parts[7]]
    what = source or text
    if len(parts) != 5:
        raise ValueError(
            f"Kaggle Models handle {what!r} must be owner/model/framework/variation/version "
            f"(5 parts, the version included for offline use), got {len(parts)} part(s)")
    if not parts[4].isdigit() or int(parts[4]) < 1:
        raise ValueError(f"Kaggle Models handle {what!r}: the version {parts[4]!r} must be a "
                         "positive integer (pin it: an unversioned handle needs the network)")
    framework = FRAMEWORK_SPELLING.get(parts[2].lower(), parts[2])
    return KaggleHandle(parts[0], parts[1], framework, parts[3], int(parts[4]))


def _kaggle_url_path(url: str) -> str | None:
    """The part after ``/models/`` of a Kaggle Models URL (None: not a Kaggle URL)."""
    u = urllib.parse.urlsplit(url)
    if u.netloc.lower() not in KAGGLE_HOSTS:
        return None
    path = u.path
    for prefix in ("/api/v1/models/", "/models/"):
        if path.startswith(prefix):
            rest = path[len(prefix):]
            return rest[: -len("/download")] if rest.endswith("/download") else rest
    raise ValueError(f"Kaggle URL {url!r} is not a model URL (https://www.kaggle.com/models/"
                     "<owner>/<model>/<framework>/<variation>/<version>)")


def resolve_handle(handle: Any) -> ResolvedHandle:
    """Classify a handle (see the module docstring); a malformed one raises ``ValueError``.
    Nothing is loaded or downloaded here."""
    if not isinstance(handle, str) or not handle.strip():
        raise ValueError(f"model handle must be a non-empty string, got {handle!r}")
    handle = handle.strip()
    if handle.lower().startswith(KAGGLE_PREFIX):
        kh = parse_kaggle_handle(handle[len(KAGGLE_PREFIX):], handle)
        return ResolvedHandle(handle, "kaggle", kh.cache_dir(), kh)
    if handle.lower().startswith(("https://", "http://")):
        kaggle_path = _kaggle_url_path(handle)
        if kaggle_path is not None:
            kh = parse_kaggle_handle(kaggle_path, handle)
            return ResolvedHandle(handle, "kaggle", kh.cache_dir(), kh)
        mapped = kaggle_handle_for(handle)
        return ResolvedHandle(handle, "url", cached_module_dir(handle),
                              parse_kaggle_handle(mapped) if mapped else None)
    path = os.path.abspath(os.path.expanduser(handle))
    if os.path.isdir(path):
        if not _is_saved_model_dir(path):
            raise ValueError(
                f"model handle {handle!r} is a directory but not a SavedModel: it holds neither "
                f"{' nor '.join(SAVED_MODEL_FILES)}"
            )
        return ResolvedHandle(handle, "directory", path)
    raise ValueError(
        f"model handle {handle!r} is neither an http(s):// URL (tfhub.dev or "
        "https://www.kaggle.com/models/...), a kagglehub handle written "
        f"'{KAGGLE_PREFIX}owner/model/framework/variation/version', nor an existing SavedModel "
        "directory (a folder holding saved_model.pb). Offline, a tfhub.dev URL loads from "
        "$TFHUB_CACHE_DIR/<sha1 of the URL>/"
    )


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _offline() -> bool:
    """``EEVFLOW_HUB_OFFLINE=1``: only cached copies are tried (no download is attempted)."""
    return os.environ.get("EEVFLOW_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _hub_load(target: str):
    import tensorflow_hub as hub

    return hub.load(target)


def _kaggle_load(kh: KaggleHandle):
    """``kagglehub.model_download`` (a cache hit needs no network), then ``hub.load`` of it."""
    import kagglehub

    path = kagglehub.model_download(str(kh))
    if not _is_saved_model_dir(path):
        raise FileNotFoundError(f"{path} holds no {' or '.join(SAVED_MODEL_FILES)}")
    return _hub_load(path)


def _tfhub_cached(path: str) -> bool:
    return os.path.isdir(path) and bool(os.listdir(path))


def _alternatives(resolved: ResolvedHandle) -> str:
    """The offline ways to provide the model, for an error message."""
    out = ["set the extractor's `handle:` to a local SavedModel folder (the one holding "
           "saved_model.pb and variables/, downloaded on another machine)"]
    if resolved.kind == "url":
        out.append(
            f"copy that folder to the TF Hub cache as {resolved.path} (TFHUB_CACHE_DIR="
            f"{os.environ.get('TFHUB_CACHE_DIR') or '<unset>'}; the folder name is the sha1 hex "
            "of the URL)")
    kh = resolved.kaggle
    if kh is not None:
        out.append(
            f"copy it to the kagglehub cache as {kh.cache_dir()} and create the empty marker "
            f"file {kh.marker()} (KAGGLEHUB_CACHE={os.environ.get('KAGGLEHUB_CACHE') or '<unset>'}"
            f"; `kagglehub.model_download('{kh}')` on a machine with network writes both)")
    return "; or ".join(out)


def load_handle(handle: str):
    """Load a handle's SavedModel (see the module docstring for the order things are tried in);
    failures raise :class:`HubLoadError` naming every handle tried and the offline alternatives,
    with the last library error chained."""
    resolved = resolve_handle(handle)
    tried: list[tuple[str, BaseException]] = []
    missing = object()

    def attempt(label, fn, *args):
        try:
            return fn(*args)
        except Exception as exc:
            tried.append((label, exc))
            return missing

    kh = resolved.kaggle
    steps: list[tuple[str, Any, str]] = []
    if resolved.kind == "directory":
        steps.append((f"local SavedModel folder {resolved.path}", _hub_load, resolved.path))
    elif resolved.kind == "url":
        cached = _tfhub_cached(resolved.path)
        if cached:
            steps.append((f"{resolved.handle} from the TF Hub cache folder {resolved.path}, "
                          "which exists but did not load as a SavedModel", _hub_load,
                          resolved.handle))
    if kh is not None and (kh.cached() or not _offline()):
        where = (f"from the kagglehub cache {kh.cache_dir()}" if kh.cached() else
                 f"through kagglehub (not in its cache {kh.cache_dir()}, so it tried to download)")
        label = f"Kaggle handle {kh} ({kh.url}) {where}"
        if resolved.kind == "url" and resolved.handle.rstrip("/") in UNVERIFIED:
            label += " [this URL-to-Kaggle mapping is inferred, not verified]"
        steps.append((label, _kaggle_load, kh))
    elif kh is not None:
        tried.append((f"Kaggle handle {kh}: not in the kagglehub cache {kh.cache_dir()} (marker "
                      f"{kh.marker()}), and EEVFLOW_HUB_OFFLINE forbids a download",
                      FileNotFoundError(kh.marker())))
    if resolved.kind == "url" and not _tfhub_cached(resolved.path):
        if _offline():
            tried.append((f"{resolved.handle}: the TF Hub cache folder {resolved.path} does not "
                          "exist, and EEVFLOW_HUB_OFFLINE forbids a download",
                          FileNotFoundError(resolved.path)))
        else:
            steps.append((f"{resolved.handle} through hub.load (the TF Hub cache folder "
                          f"{resolved.path} does not exist, so it tried to download)", _hub_load,
                          resolved.handle))
    for label, fn, arg in steps:
        model = attempt(label, fn, arg)
        if model is not missing:
            return model
    lines = [f"  {i}. {label}: {_detail(exc)}" for i, (label, exc) in enumerate(tried, 1)]
    hint = "Without network, " + _alternatives(resolved) + "."
    if os.environ.get("TFHUB_MODEL_LOAD_FORMAT", "").upper() == "UNCOMPRESSED":
        hint += " TFHUB_MODEL_LOAD_FORMAT=UNCOMPRESSED bypasses the TF Hub cache: unset it."
    raise HubLoadError(
        f"could not load model handle {handle!r}. Tried:\n" + "\n".join(lines) + "\n" + hint
    ) from (tried[-1][1] if tried else None)


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
