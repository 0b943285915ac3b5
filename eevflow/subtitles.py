"""A video's subtitles (the text stream of MGN-MA): finding its files, parsing them into cues and
aligning the cues to the label rows.

**Files.** A video's subtitles lie beside it (``download.subtitles`` writes them there): for each
language of ``languages`` in order, ``<id>.<lang>.vtt`` then ``<id>.<lang>.srt`` (yt-dlp's names:
subtitles, or automatic captions where the video has none in that language), then the plain
``<id>.vtt`` and ``<id>.srt``. The first that exists is the video's file (one file per video).

**Parsing.** WebVTT with webvtt-py, SubRip with srt. Each cue's text has its markup stripped
(``<i>``, ``<c>``, inline ``<00:00:01.000>`` timings, ``{\\an8}`` tags), its lines stripped and
empty lines dropped. YouTube's automatic captions roll: each cue repeats the line before it, and
10 ms cues repeat the last line; so a line that was in the previous cue, when that cue ends no
more than :data:`CONTIGUOUS_S` before this one starts, is dropped, and a cue left with no line
extends the last kept cue to its end. The kept lines of a cue are joined with a space.

**Alignment** (:func:`align`): each row gets the cue on screen at its time (``start <= t <
end``; of several, the one that started last), else the nearest cue within ``window_s`` (the
distance to its start or end; ties: the earlier cue; ``window_s: 0``: on screen only), else none
(-1).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np

from eevflow.ids import validate_local_id

log = logging.getLogger(__name__)

SUFFIXES = (".vtt", ".srt")
#: a line repeated from a cue that ended at most this long before is a rolling duplicate
CONTIGUOUS_S = 0.05
_LANG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_SPACE = re.compile(r"\s+")


class SubtitleError(ValueError):
    """A subtitle file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Cue:
    start_us: int
    end_us: int
    text: str


def check_language(lang: str) -> str:
    if not isinstance(lang, str) or _LANG.fullmatch(lang) is None:
        raise ValueError(f"subtitle language {lang!r} must be a tag of letters, digits, '_' "
                         "and '-' (e.g. en, en-US, en-orig)")
    return lang


def candidates(folder: str, video_id: str, languages) -> list[str]:
    """The paths a video's subtitle file may have, in preference order (module docstring)."""
    vid = validate_local_id(video_id)
    names = [f"{vid}.{check_language(lang)}{s}" for lang in languages for s in SUFFIXES]
    names += [vid + s for s in SUFFIXES]
    return [os.path.join(folder, n) for n in names]


def find_subtitles(folder: str, video_id: str, languages) -> str | None:
    """The video's subtitle file (the first existing candidate), or None."""
    for path in candidates(folder, video_id, languages):
        if os.path.isfile(path):
            return path
    return None


def clean_lines(text: str) -> list[str]:
    """The non-empty lines of a cue's text, markup removed and whitespace collapsed."""
    out = []
    for line in _TAGS.sub("", text or "").splitlines():
        line = _SPACE.sub(" ", line.replace("&nbsp;", " ")).strip()
        line = line.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
        if line:
            out.append(line)
    return out


def _raw_cues(path: str) -> list[tuple[float, float, str]]:
    """(start s, end s, raw text) of each cue of a .vtt or .srt file, in file order."""
    suffix = os.path.splitext(path)[1].lower()
    try:
        if suffix == ".vtt":
            import webvtt

            # milliseconds: webvtt-py's *_in_seconds are whole seconds
            return [(c.start_time.in_milliseconds() / 1e3, c.end_time.in_milliseconds() / 1e3,
                     c.raw_text) for c in webvtt.read(path).captions]
        if suffix == ".srt":
            import srt

            with open(path, encoding="utf-8-sig", errors="strict") as f:
                return [(s.start.total_seconds(), s.end.total_seconds(), s.content)
                        for s in srt.parse(f.read())]
    except Exception as exc:  # noqa: BLE001  (any parser's failure: the file is unusable)
        raise SubtitleError(f"{path}: cannot read as {suffix[1:]} subtitles: "
                            f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}") from exc
    raise SubtitleError(f"{path}: not a subtitle file (expected one of {SUFFIXES})")


def parse_cues(path: str) -> list[Cue]:
    """A subtitle file's cues: markup stripped, rolling duplicates dropped, sorted by start."""
    cues: list[Cue] = []
    prev_lines: list[str] = []
    prev_end = None
    for start, end, raw in sorted(_raw_cues(path), key=lambda c: (c[0], c[1])):
        s_us, e_us = round(start * 1e6), round(end * 1e6)
        if e_us <= s_us:
            continue
        lines = clean_lines(raw)
        rolling = prev_end is not None and s_us - prev_end <= CONTIGUOUS_S * 1e6
        new = [ln for ln in lines if not (rolling and ln in prev_lines)]
        if lines:
            prev_lines, prev_end = lines, e_us
        if new:
            cues.append(Cue(s_us, e_us, " ".join(new)))
        elif lines and rolling and cues:  # a cue of repeats only: the last line stays on screen
            last = cues[-1]
            cues[-1] = Cue(last.start_us, max(last.end_us, e_us), last.text)
    return cues


def align(cues: list[Cue], timestamps_us, window_s: float) -> np.ndarray:
    """int64 (n_rows,): the index into ``cues`` of each row's line, -1 where there is none."""
    t = np.asarray(timestamps_us, dtype=np.int64).reshape(-1, 1)
    if not cues or len(t) == 0:
        return np.full(len(t), -1, np.int64)
    starts = np.array([c.start_us for c in cues], np.int64)[None, :]
    ends = np.array([c.end_us for c in cues], np.int64)[None, :]
    on = (starts <= t) & (t < ends)
    # on screen: the latest start (argmax of the start where on, first index on ties)
    latest = np.argmax(np.where(on, starts, np.iinfo(np.int64).min), axis=1)
    dist = np.where(t < starts, starts - t, t - ends)  # off screen: to its start or its end
    nearest = np.argmin(dist, axis=1)  # the first (earliest) cue on ties
    best = dist[np.arange(len(t)), nearest]
    window_us = round(window_s * 1e6)
    out = np.where((best <= window_us) & (window_us > 0), nearest, -1)
    return np.where(on.any(axis=1), latest, out).astype(np.int64)
