"""Backend ``s3d_clip``: S3D trained with MIL-NCE on HowTo100M (TF Hub
``https://tfhub.dev/deepmind/mil-nce/s3d/1``, Kaggle ``deepmind/mil-nce/tensorFlow1/s3d/1``), MGN-MA's
action stream, one embedding per label row from the clip around it (eevflow.clips).

The model page's call: ``module.signatures['video'](tf.constant(frames))`` with ``frames`` float32
``[batch, T, H, W, 3]`` RGB in [0, 1] (T = 32 at 10 fps as trained; any H, W: the network is fully
convolutional, 224 recommended) returns a dict with ``'video_embedding'`` ``[batch, 512]`` and
``'mixed_5c'`` ``[batch, 1024]``. The handle is resolved and loaded by
:mod:`eevflow.features.hub_handles` (TF Hub cache, Kaggle cache, local SavedModel folder); a
missing or damaged model is a :class:`~eevflow.features.hub_handles.HubLoadError` naming the
handle and the folders tried.

Each clip is the ``frames`` grid frames of :func:`eevflow.clips.window_indices` (centred on the
row, shifted inside the video at its ends), read once per batch of clips from the clip shard (the
windows of neighbouring rows share most frames); with ``stride`` k, rows 0, k, 2k, ... are embedded
and the rows between hold the previous one (:func:`eevflow.clips.hold`).
"""

from __future__ import annotations

import numpy as np

from eevflow.clips import ClipVideo, hold, stride_rows
from eevflow.decoding import Decoded
from eevflow.features import Extractor, configure_tensorflow
from eevflow.features.clip_options import S3DClipOptions
from eevflow.features.hub_handles import (
    HubLoadError,
    _check_dim,
    _fingerprint,
    load_handle,
    resolve_handle,
    select_output,
)

SIGNATURE = "video"


def call_signature(fn, x):
    """A restored signature called with its one input, positionally or by its keyword."""
    args, kwargs = fn.structured_input_signature
    if args or not kwargs:
        return fn(x)
    if len(kwargs) != 1:
        raise ValueError(f"the {SIGNATURE!r} signature takes {sorted(kwargs)}, not one input")
    return fn(**{next(iter(kwargs)): x})


class S3DClipExtractor(Extractor):
    """S3D MIL-NCE on the clip around each label row."""

    options_class = S3DClipOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        self.handle = self.opts.handle
        self.resolved = resolve_handle(self.handle)  # a malformed handle fails at build time
        self._fn = None
        self._tf = None

    @property
    def version(self) -> str:
        o = self.opts
        return (f"s3d_clip-v1 handle={self.handle} signature={SIGNATURE} output={o.output} "
                f"frames={o.frames} stride={o.stride} centred-window shifted-at-ends "
                f"input=rgb/255{_fingerprint(self.resolved)}")

    def signature(self):
        if self._fn is None:
            self._tf = configure_tensorflow(self.threads, self.device)
            model = load_handle(self.handle)
            sigs = getattr(model, "signatures", {}) or {}
            if SIGNATURE not in sigs:
                raise HubLoadError(
                    f"model handle {self.handle!r} ({self.resolved.path}) loaded but has no "
                    f"{SIGNATURE!r} signature (it has {sorted(sigs)}): not the S3D MIL-NCE module")
            self._fn = sigs[SIGNATURE]
        return self._fn

    def embed(self, video: Decoded) -> np.ndarray:
        if not isinstance(video, ClipVideo):
            raise TypeError(
                f"extractor {self.name!r}: backend s3d_clip reads the clip stream (rule "
                f"decode_clips, eevflow.clips), but video {video.info.video_id} came as label-row "
                "frames (iter_clip_videos gives a video's clip stream)")
        o = self.opts
        n_rows = len(video.timestamps_us)
        rows = stride_rows(n_rows, o.stride)
        if n_rows == 0:
            return np.zeros((0, self.dim), np.float32)
        windows = video.windows(o.frames, rows)
        fn = self.signature()
        tf = self._tf
        out = np.empty((len(rows), self.dim), np.float32)
        for lo in range(0, len(rows), o.batch_size):
            idx = windows[lo : lo + o.batch_size]
            # each grid frame of the batch's windows is read (and JPEG-decoded) once
            uniq, inverse = np.unique(idx, return_inverse=True)
            pics = np.asarray(video.frames[uniq], np.float32) / 255.0
            clips = pics[inverse.reshape(idx.shape)]
            res = call_signature(fn, tf.constant(clips))
            emb = np.asarray(select_output(res, o.output, self.handle), np.float32)
            out[lo : lo + len(idx)] = _check_dim(emb.reshape(len(idx), -1), self.dim, self.handle)
        return hold(out, n_rows, o.stride)
