"""Options of the ``text_subtitles`` backend: a text model (BERT base with its preprocessing model,
TF Hub handles) on each row's subtitle line (eevflow.subtitles). Imports no model library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from eevflow.features.options import BackendOptions, option

BERT_BASE_URL = "https://tfhub.dev/tensorflow/bert_en_uncased_L-12_H-768_A-12/4"
BERT_PREPROCESS_URL = "https://tfhub.dev/tensorflow/bert_en_uncased_preprocess/3"
_HANDLE = ("a tfhub.dev URL (TFHUB_CACHE_DIR, then its Kaggle handle via kagglehub), a Kaggle "
           "Models URL or kaggle:owner/model/framework/variation/version handle, or a SavedModel "
           "directory")
LANGUAGE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$"


@dataclass
class TextSubtitlesOptions(BackendOptions):
    """A text encoder (BERT base by default) on the subtitle line on screen at each row (or the
    nearest within ``window_s``): ``dim`` values and a has-line flag (1, or 0 with a zero
    vector where the row has no line)."""

    backend: ClassVar[str] = "text_subtitles"
    modality: ClassVar[str] = "text"
    module: ClassVar[str] = "eevflow.features.text_subtitles"
    rows_per_s: ClassVar[float] = 200.0
    reads_media: ClassVar[bool] = False
    input_stream: ClassVar[str] = "subtitles"

    handle: str = option(BERT_BASE_URL, "the text encoder: " + _HANDLE, minLength=1)
    preprocess_handle: str | None = option(
        BERT_PREPROCESS_URL, "the encoder's preprocessing model (strings -> input_word_ids, "
        "input_mask, input_type_ids; needs tensorflow-text): " + _HANDLE + "; null: the encoder "
        "takes the strings itself", minLength=1)
    output_key: str | int | None = option(
        "pooled_output", "the embedding's dict key, or index into a tuple output; null: the only "
        "output")
    dim: int = option(768, "the encoder's embedding size, checked on its output (the features: "
                      "dim + 1, the flag)", minimum=1)
    window_s: float = option(
        1.0, "a row with no line on screen takes the nearest line ending or starting at most "
        "this many seconds away; 0: on-screen lines only", minimum=0)
    languages: list[str] = option(
        ["en"], "subtitle languages in preference order: <id>.<lang>.vtt / .srt beside the "
        "video, then <id>.vtt / <id>.srt", minItems=1, items={"type": "string",
                                                              "pattern": LANGUAGE_PATTERN})
    dir: str | None = option(None, "folder of the subtitle files; null: data.videos_dir (where "
                             "download.subtitles writes them)", minLength=1)
    batch_size: int = option(32, "lines per model call", minimum=1)
    missing: Literal["zeros", "skip"] = option(
        "zeros", "a video with no subtitle file: zero rows with flag 0 (counted and logged), or "
        "skip it (then it has no text features)")
    unreadable: Literal["error", "skip"] = option(
        "error", "a subtitle file that does not parse: an error naming it, or treat the video "
        "as having none (counted and logged; then as `missing`)")

    def output_dim(self) -> int:
        return self.dim + 1
