"""Backend ``text_subtitles``: the subtitle line of each label row (eevflow.subtitles: the cue on
screen at the row's time, else the nearest within ``window_s``) embedded by a text model, MGN-MA's
text stream.

The model is BERT base (``https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4``, its
``pooled_output`` [B, 768]) behind its preprocessing model
(``https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3``: strings [B] -> ``input_word_ids``,
``input_mask``, ``input_type_ids`` [B, 128] int32), both loaded through
:func:`eevflow.features.hub_handles.load_handle` (TF Hub cache, Kaggle handle, local SavedModel
folder). ``tensorflow_text`` is imported first: the preprocessing model's ops live there.

A row's features are the line's embedding and a flag 1; a row with no line gets zeros and flag 0.
Each distinct line of a video is embedded once. The extract job reads no media: the shard's
label-file videos (its download-check manifest) and their subtitle files (``dir``, by default
``data.videos_dir``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from eevflow.features import Extractor, configure_tensorflow
from eevflow.features.hub_handles import (
    _check_dim,
    _fingerprint,
    _takes_training,
    load_handle,
    resolve_handle,
    select_output,
)
from eevflow.features.precomputed import LabelInfo, shard_label_rows
from eevflow.features.text_subtitles_options import TextSubtitlesOptions
from eevflow.ids import InvalidVideoId
from eevflow.subtitles import CONTIGUOUS_S, SubtitleError, align, find_subtitles, parse_cues

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubtitleRows:
    """What ``embed`` needs of a video: its ID, label times and subtitle cues (a ``Decoded``
    without media)."""

    info: LabelInfo
    cues: list = field(default_factory=list)
    path: str | None = None  # the subtitle file, None when the video has none

    @property
    def timestamps_us(self) -> np.ndarray:
        return np.asarray(self.info.timestamps_us, dtype=np.int64)


class TextSubtitlesExtractor(Extractor):
    options_class = TextSubtitlesOptions

    def __init__(self, name, options, device="cpu", threads=1):
        super().__init__(name, options, device, threads)
        o = self.opts
        # malformed handles fail when the extractor is built
        self.resolved = resolve_handle(o.handle)
        self.resolved_pre = resolve_handle(o.preprocess_handle) if o.preprocess_handle else None
        self.skipped: dict[str, str] = {}
        self.no_subtitles: dict[str, str] = {}
        self._models = None
        self._tf = None

    @property
    def version(self) -> str:
        o = self.opts
        pre = (f" preprocess={o.preprocess_handle}{_fingerprint(self.resolved_pre)}"
               if self.resolved_pre else " preprocess=none")
        return (f"text_subtitles-v1 handle={o.handle}{_fingerprint(self.resolved)}{pre} "
                f"output_key={o.output_key} window_s={o.window_s} "
                f"languages={','.join(o.languages)} rolling_dedupe={CONTIGUOUS_S}s "
                "features=embedding+has_line")

    # ------------------------------------------------------------------ models

    def models(self):
        """(preprocess or None, encoder), loaded once (errors name the handle and folder)."""
        if self._models is None:
            self._tf = configure_tensorflow(self.threads, self.device)
            if self.resolved_pre is not None:
                import importlib

                importlib.import_module("tensorflow_text")  # the preprocessing model's ops
            pre = load_handle(self.opts.preprocess_handle) if self.resolved_pre else None
            self._models = (pre, load_handle(self.opts.handle))
        return self._models

    def embed_lines(self, lines: list[str]) -> np.ndarray:
        """float32 (len(lines), dim): the encoder's output for each line."""
        out = np.empty((len(lines), self.opts.dim), np.float32)
        if not lines:
            return out
        pre, encoder = self.models()
        tf = self._tf
        training = _takes_training(encoder)
        handle = self.opts.handle
        for lo in range(0, len(lines), self.opts.batch_size):
            batch = lines[lo: lo + self.opts.batch_size]
            x = tf.constant(batch, dtype=tf.string)
            if pre is not None:
                x = pre(x)
            res = encoder(x, training=False) if training else encoder(x)
            emb = np.asarray(select_output(res, self.opts.output_key, handle), np.float32)
            if emb.ndim != 2 or emb.shape[0] != len(batch):
                raise ValueError(f"{handle}: expected [batch, dim] for {len(batch)} lines, got "
                                 f"{emb.shape} (output_key {self.opts.output_key!r})")
            out[lo: lo + len(batch)] = _check_dim(emb, self.opts.dim, handle)
        return out

    # ------------------------------------------------------------------ videos

    def read_cues(self, video_id: str, folder: str) -> tuple[list, str | None]:
        """The video's cues and file (``[], None`` where it has none or, with ``unreadable:
        skip``, an unreadable one); unreadable files otherwise raise SubtitleError."""
        path = find_subtitles(folder, video_id, self.opts.languages)
        if path is None:
            return [], None
        try:
            return parse_cues(path), path
        except SubtitleError as exc:
            if self.opts.unreadable == "error":
                raise SubtitleError(f"{exc} (extractor {self.name}, video {video_id}; "
                                    "unreadable: skip skips it)") from exc
            log.warning("%s: %s: unreadable subtitles skipped: %s", self.name, video_id, exc)
            self.skipped[video_id] = str(exc)
            return [], None

    def subtitle_rows(self, video_id: str, timestamps_us, folder: str) -> SubtitleRows:
        """One video's label rows with its cues from ``folder`` (no cues, ``path`` None, where it
        has no subtitle file); an unusable video ID raises InvalidVideoId."""
        cues, path = self.read_cues(video_id, folder)
        times = np.asarray(timestamps_us, np.int64).tolist()
        return SubtitleRows(LabelInfo(video_id, times), cues, path)

    def subtitle_videos(self, labels_path, shard_manifest, videos_dir: str) -> Iterator[
            SubtitleRows]:
        """The shard's label-file videos (its download-check manifest's, in order) with their
        cues; a video with no subtitle file gets zero rows or (``missing: skip``) is skipped."""
        folder = self.opts.dir or videos_dir
        for vid, times in shard_label_rows(labels_path, shard_manifest):
            try:
                rows = self.subtitle_rows(vid, times, folder)
            except InvalidVideoId as exc:
                self.skipped[vid] = f"no subtitle file name: {exc}"
                log.warning("%s: skipped %s: %s", self.name, vid, exc)
                continue
            if rows.path is None:
                self.no_subtitles[vid] = f"no subtitle file in {folder}"
                if self.opts.missing == "skip":
                    continue
            yield rows
        if self.no_subtitles or self.skipped:
            log.warning("%s: %d videos without subtitles (%s), %d unreadable or unnamed skipped",
                        self.name, len(self.no_subtitles),
                        "skipped" if self.opts.missing == "skip" else "zero rows",
                        len(self.skipped))

    def embed(self, video) -> np.ndarray:
        """float32 (n_rows, dim + 1): the row's line embedding and 1, or zeros and 0."""
        cues = getattr(video, "cues", None)
        if cues is None:  # a decoded video (new videos): its subtitles from ``dir``
            if not self.opts.dir:
                raise ValueError(f"extractor {self.name!r}: video {video.info.video_id} comes "
                                 "without subtitles; set the extractor's dir")
            cues, _ = self.read_cues(video.info.video_id, self.opts.dir)
        ts = video.timestamps_us
        idx = align(cues, ts, self.opts.window_s)
        out = np.zeros((len(ts), self.dim), np.float32)
        used = sorted({int(i) for i in idx if i >= 0})
        if not used:
            return out
        lines = sorted({cues[i].text for i in used})  # each distinct line embedded once
        emb = self.embed_lines(lines)
        row_of = {text: k for k, text in enumerate(lines)}
        has = idx >= 0
        which = np.array([row_of[cues[i].text] for i in idx[has]], np.int64)
        out[has, : self.opts.dim] = emb[which]
        out[has, self.opts.dim] = 1.0
        return out
