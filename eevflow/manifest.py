"""The download-check manifest: one row per listed video with its status and the reason.

Statuses (``eevflow.media`` says how each is measured): ``ok``; ``no_audio`` (usable for its
frames; the audio extractors hear silence unless ``probe.no_audio: exclude``); ``audio_short`` (a
healthy audio track that ends early: decoded padded with silence unless ``probe.short_audio:
exclude``); and the excluded ones: ``invalid_id`` (the ID cannot name a file or a YouTube video),
``not_in_video_list``, ``missing`` (no file and downloading is off), ``download_failed``,
``corrupt``, ``unsupported_codec``, ``too_short`` and ``labels_past_end`` (label rows after the
video's end, with ``probe.labels_past_end: exclude``). Every row also counts its label rows and
those after the video's end (``rows``, ``rows_past_end``) and says which frame path will decode
it (``decoder``). Nothing is dropped silently: every label-file video has a row, and
:func:`dataset_report` also lists the videos that are in the video list or the videos directory
but in no label file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from typing import Any, Literal, Mapping

import numpy as np
import pandas as pd

from eevflow.download import Downloader, DownloadOptions
from eevflow.ids import InvalidVideoId, video_path
from eevflow.media import ProbeResult, probe
from eevflow.options import Options, option
from eevflow.past_end import rows_past_end
from eevflow.progress import progress
from eevflow.shards import shard_of

log = logging.getLogger(__name__)

EXCLUDED = (
    "invalid_id", "not_in_video_list", "missing", "download_failed", "corrupt",
    "unsupported_codec", "too_short", "labels_past_end",
)  # fmt: skip


@dataclass
class ProbeSettings(Options):
    """What the download-check does with files that are usable but odd (the config's ``probe``
    block; its schema is generated from this class)."""

    min_duration_s: float = option(
        1.0, "videos shorter than this many seconds are excluded (status too_short)", minimum=0
    )
    # `silence` decodes the frames of a video without audio and gives the audio extractors a silent
    # track of its length, so every variant predicts it; `exclude` drops it like a corrupt file
    no_audio: Literal["silence", "exclude"] = option(
        "silence", "videos without audio: silence (decoded with a silent track) or exclude"
    )
    # a healthy audio track that ends before the picture (music that stops before the credits):
    # status audio_short; `keep` decodes it padded with silence (counted in the decode log and meta)
    short_audio: Literal["keep", "exclude"] = option(
        "keep", "audio_short videos: keep (padded with silence, counted) or exclude"
    )
    audio_tolerance_s: float = option(
        0.5, "audio may end this much (or audio_tolerance_frac of the duration) early", minimum=0
    )
    audio_tolerance_frac: float = option(
        0.05, "audio may end this fraction of the duration (or audio_tolerance_s) early",
        minimum=0, maximum=1,
    )
    # label rows after the video's end (beyond the tolerance), counted per video (rows_past_end).
    # keep: decoded as the last frame and silence, trained on and scored; drop: still predicted (a
    # submission covers every test row) but neither trained on nor scored; exclude: the video is
    # excluded (status labels_past_end)
    labels_past_end: Literal["keep", "drop", "exclude"] = option(
        "keep", "label rows after the video's end: keep, drop (not trained on or scored), "
        "exclude the video"
    )
    labels_past_end_tolerance_s: float = option(
        0.5, "a label row counts as past the end when it is this much after the last frame ends",
        minimum=0,
    )
    # ends: the audio track's first frames and, after a seek, its last seconds (where it ends:
    # audio_short, and that it decodes); full: the whole track, which also finds a damaged packet
    # in its middle (with ends, the decode job meets it and fails, naming the video)
    audio: Literal["ends", "full"] = option(
        "ends", "how much of the audio track the probe decodes: ends (its first frames and last "
        "seconds) or full (all of it)"
    )


@dataclass
class ProbeOptions(ProbeSettings):
    """The probe block and the decode settings the probe needs."""

    sample_rate: int = 16000
    backend: str = "pyav"

    @classmethod
    def from_config(cls, probe_cfg: Mapping[str, Any], decode_cfg: Mapping[str, Any]):
        keys = set(cls.__dataclass_fields__) - {"sample_rate", "backend"}
        return cls(
            sample_rate=decode_cfg.get("audio_sample_rate", 16000),
            backend=decode_cfg.get("backend", "pyav"),
            **{k: v for k, v in probe_cfg.items() if k in keys},
        )

    @property
    def usable(self) -> tuple[str, ...]:
        return usable_statuses(self.no_audio, self.short_audio)


def usable_statuses(no_audio: str = "silence", short_audio: str = "keep") -> tuple[str, ...]:
    """Statuses whose videos are decoded and predicted."""
    return ("ok",) + (("no_audio",) if no_audio == "silence" else ()) + (
        ("audio_short",) if short_audio == "keep" else ()
    )


def find_video(videos_dir: str, video_id: str, extensions: list[str]) -> str | None:
    """The video's file: ``<videos_dir>/<id><ext>`` for the first extension that exists.

    The path is returned as named, also when it is a symlink (to anywhere) to a file; a dangling
    symlink is no file (see :func:`dangling_links`)."""
    for ext in extensions:
        path = video_path(videos_dir, video_id, ext)
        if os.path.isfile(path):
            return path
    return None


def dangling_links(videos_dir: str, video_id: str, extensions: list[str]) -> list[str]:
    """``'<link> -> <target>'`` for each ``<videos_dir>/<id><ext>`` that is a symlink to no file
    (a missing target, a directory, or a loop), so that a missing video says why."""
    found = []
    for ext in extensions:
        path = video_path(videos_dir, video_id, ext)
        if os.path.islink(path) and not os.path.isfile(path):
            target, end = os.readlink(path), os.path.realpath(path)
            found.append(f"{path} -> {target}" + (f" (= {end})" if end != target else ""))
    return found


def read_video_list(path: str) -> list[str]:
    """IDs of a video list file: one per line; blank lines and ``#`` comments are ignored."""
    with open(path, encoding="utf-8") as fh:
        ids = [line.split("#", 1)[0].strip() for line in fh]
    return [i for i in ids if i]


def check_videos(
    video_ids: list[str],
    videos_dir: str,
    extensions: list[str],
    options: ProbeOptions | None = None,
    label_times: Mapping[str, np.ndarray] | None = None,
    video_list: set[str] | None = None,
    download: DownloadOptions | None = None,
    desc: str = "download_check",
) -> pd.DataFrame:
    """Probe (downloading first, if enabled and absent) each video: the manifest of a split.

    ``label_times`` (video -> label timestamps in µs) counts each video's label rows and those
    after its end; with ``probe.labels_past_end: exclude`` a video with any is excluded.
    ``desc``: what the progress lines (eevflow.progress) call the job.
    """
    options = options or ProbeOptions()
    download = download or DownloadOptions()
    downloader = Downloader(videos_dir, download) if download.enabled else None
    rows, statuses = [], {}
    bar = progress(video_ids, desc=desc, unit="videos")
    for vid in bar:
        vid = str(vid)
        result, source = _check_one(vid, videos_dir, extensions, options, video_list, downloader)
        times = np.asarray((label_times or {}).get(vid, []), dtype=np.int64)
        past = rows_past_end(times, result.duration_s, options.labels_past_end_tolerance_s)
        if past and options.labels_past_end == "exclude" and result.usable:
            last = times.max() / 1e6
            result.status, result.reason = "labels_past_end", (
                f"{past} of {len(times)} label rows are after the video's end "
                f"({result.duration_s:.2f} s; the last label is at {last:.2f} s)"
            )
        rows.append({**asdict(result), "source": source, "rows": len(times),
                     "rows_past_end": past})
        statuses[result.status] = statuses.get(result.status, 0) + 1
        bar.set_postfix(statuses)
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=manifest_columns())
    return df


def manifest_columns() -> list[str]:
    """The manifest's columns, in order."""
    return [*asdict(ProbeResult("", "", "", "")), "source", "rows", "rows_past_end"]


def shard_ids(video_ids, shard: int, n_shards: int) -> list[str]:
    """The IDs of one shard (``eevflow.shards.shard_of``, as decode and extract shard them), in
    the given order: the videos one download_check job checks."""
    return [str(v) for v in video_ids if shard_of(str(v), n_shards) == shard]


def merge_manifests(parts: list[pd.DataFrame], video_ids) -> pd.DataFrame:
    """A split's manifest from its shards' manifests: one row per video of ``video_ids`` (the
    label file's, in its order), the same columns. A video in no shard manifest, in two, or in
    one but not in ``video_ids`` (shard manifests left from another label file or ``n_shards``)
    is an error that names them."""
    frames = [p for p in parts if len(p)]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=manifest_columns())
    ids = df["video_id"].astype(str)
    want = list(dict.fromkeys(str(v) for v in video_ids))
    problems = []
    for what, bad in (
        ("in two shard manifests", sorted(set(ids[ids.duplicated()]))),
        ("in no shard manifest", sorted(set(want) - set(ids))),
        ("in a shard manifest but not in the label file", sorted(set(ids) - set(want))),
    ):
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            problems.append(f"{len(bad)} video(s) {what}: {shown}")
    if problems:
        raise ValueError("the shard manifests do not match the label file: " + "; ".join(problems))
    return df.iloc[pd.Index(ids).get_indexer(want)].reset_index(drop=True)


def _check_one(vid, videos_dir, extensions, options: ProbeOptions, video_list, downloader):
    """One manifest row and where its file came from (``local``, ``download`` or empty)."""

    def excluded(status: str, reason: str, source: str = "") -> tuple[ProbeResult, str]:
        return ProbeResult(video_id=vid, path="", status=status, reason=reason), source

    try:
        path = find_video(videos_dir, vid, extensions)
    except InvalidVideoId as exc:
        return excluded("invalid_id", str(exc))
    if video_list is not None and vid not in video_list:
        return excluded("not_in_video_list", "in the label file, not in data.video_list")
    source = "local"
    if path is None and downloader is not None:
        got = downloader.fetch(vid)
        if got.status != "downloaded":
            return excluded(got.status, got.reason, "download")
        path, source = got.path, "download"
    if path is None:
        names = "|".join(extensions)
        links = dangling_links(videos_dir, vid, extensions)
        dangling = f" ({'; '.join(links)}: dangling symlink, no file there)" if links else ""
        return excluded(
            "missing",
            f"no file {vid}{{{names}}} in {videos_dir}{dangling}; downloading is off "
            "(download.enabled)",
        )
    row = probe(
        vid, path, options.sample_rate, min_duration_s=options.min_duration_s,
        audio_tolerance_s=options.audio_tolerance_s,
        audio_tolerance_frac=options.audio_tolerance_frac, backend=options.backend,
        audio=options.audio,
    )
    return row, source


def dataset_report(
    manifests: dict[str, pd.DataFrame],
    options: ProbeOptions | None = None,
    video_list: list[str] | None = None,
    videos_dir_ids: list[str] | None = None,
) -> dict:
    """Counts per split and status, the excluded videos with reasons, the kept videos with a
    quirk (no audio, short audio, label rows after the end), the frame path of each decoded video,
    and the mismatches between the label files and the video list / the videos directory."""
    options = options or ProbeOptions()
    usable = options.usable
    labelled = {v for m in manifests.values() for v in m["video_id"]}
    report: dict = {"splits": {}, "excluded": {}, "no_audio": {}, "audio_short": {},
                    "labels_past_end": {}, "policies": {
                        "no_audio": options.no_audio, "short_audio": options.short_audio,
                        "labels_past_end": options.labels_past_end,
                        "labels_past_end_tolerance_s": options.labels_past_end_tolerance_s,
                        "decode_backend": options.backend}}
    for split, m in manifests.items():
        counts = {k: int(v) for k, v in m["status"].value_counts().sort_index().items()}
        used = m[m["status"].isin(usable)]
        decoders = used["decoder"].value_counts().sort_index() if "decoder" in m else {}
        report["splits"][split] = {
            "listed": int(len(m)),
            "used": int(len(used)),
            "by_status": counts,
            "by_decoder": {k: int(v) for k, v in dict(decoders).items()},
        }
        bad = m[~m["status"].isin(usable)]
        report["excluded"][split] = {r.video_id: f"{r.status}: {r.reason}" for r in bad.itertuples()}
        report["no_audio"][split] = sorted(used.loc[used["status"] == "no_audio", "video_id"])
        short = used[used["status"] == "audio_short"]
        report["audio_short"][split] = {r.video_id: r.reason for r in short.itertuples()}
        if "rows_past_end" in m:
            past = used[used["rows_past_end"] > 0]
            report["labels_past_end"][split] = {
                r.video_id: {"rows_past_end": int(r.rows_past_end), "rows": int(r.rows),
                             "duration_s": round(float(r.duration_s), 3)}
                for r in past.itertuples()
            }
    seen: dict[str, list[str]] = {}
    for split, m in manifests.items():
        for v in m["video_id"]:
            seen.setdefault(v, []).append(split)
    report["in_several_splits"] = {v: s for v, s in sorted(seen.items()) if len(s) > 1}
    if video_list is not None:
        report["video_list_not_in_labels"] = sorted(set(video_list) - labelled)
    if videos_dir_ids is not None:
        report["videos_dir_not_in_labels"] = sorted(set(videos_dir_ids) - labelled)
    return report


_PAST_END_WHAT = {
    "keep": "decoded as the last frame and silence, trained on and scored",
    "drop": "predicted, but neither trained on nor scored",
    "exclude": "",
}


def report_markdown(report: dict) -> str:
    lines = ["# Dataset check", "", "| split | listed | used | by status | decoded by |",
             "|---|---|---|---|---|"]
    for split, s in report["splits"].items():
        by = ", ".join(f"{k} {v}" for k, v in s["by_status"].items())
        dec = ", ".join(f"{k} {v}" for k, v in s.get("by_decoder", {}).items())
        lines.append(f"| {split} | {s['listed']} | {s['used']} | {by} | {dec} |")
    pol = report.get("policies", {})
    for split, bad in report["excluded"].items():
        if bad:
            lines += ["", f"## Excluded from {split}", ""]
            lines += [f"- `{v}`: {why}" for v, why in bad.items()]
    for split, vids in report["no_audio"].items():
        if vids:
            lines += ["", f"## {split}: no audio track (frames used, audio extractors hear silence)",
                      ""]
            lines += [f"- `{v}`" for v in vids]
    for split, vids in report.get("audio_short", {}).items():
        if vids:
            lines += ["", f"## {split}: audio ends early (kept, padded with silence: "
                      "probe.short_audio)", ""]
            lines += [f"- `{v}`: {why}" for v, why in vids.items()]
    for split, vids in report.get("labels_past_end", {}).items():
        if vids:
            policy = pol.get("labels_past_end", "keep")
            lines += ["", f"## {split}: label rows after the video's end "
                      f"(probe.labels_past_end: {policy}; {_PAST_END_WHAT.get(policy, '')})", ""]
            lines += [f"- `{v}`: {d['rows_past_end']} of {d['rows']} rows after "
                      f"{d['duration_s']:.2f} s" for v, d in vids.items()]
    for key, title in (
        ("in_several_splits", "Videos in more than one split"),
        ("video_list_not_in_labels", "In data.video_list but in no label file"),
        ("videos_dir_not_in_labels", "In the videos directory but in no label file"),
    ):
        if report.get(key):
            lines += ["", f"## {title}", ""]
            items = report[key]
            lines += [f"- `{v}`" + (f": {items[v]}" if isinstance(items, dict) else "")
                      for v in items]
    return "\n".join(lines) + "\n"
