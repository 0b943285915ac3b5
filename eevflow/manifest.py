"""The download-check manifest: one row per listed video with its status and the reason.

Statuses: ``ok``; ``no_audio`` (usable for its frames; the audio extractors hear silence unless
``probe.no_audio: exclude``); and the excluded ones: ``invalid_id`` (the ID cannot name a file or
a YouTube video), ``not_in_video_list``, ``missing`` (no file and downloading is off),
``download_failed``, ``corrupt`` and ``too_short``. Nothing is dropped silently: every label-file
video has a row, and :func:`dataset_report` also lists the videos that are in the video list or
the videos directory but in no label file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict

import pandas as pd

from eevflow.download import Downloader, DownloadOptions, InvalidVideoId, video_path
from eevflow.media import ProbeResult, probe

log = logging.getLogger(__name__)

EXCLUDED = ("invalid_id", "not_in_video_list", "missing", "download_failed", "corrupt", "too_short")


def usable_statuses(no_audio: str = "silence") -> tuple[str, ...]:
    """Statuses whose videos are decoded and predicted."""
    return ("ok", "no_audio") if no_audio == "silence" else ("ok",)


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
    sample_rate: int = 16000,
    min_duration_s: float = 1.0,
    video_list: set[str] | None = None,
    download: DownloadOptions | None = None,
) -> pd.DataFrame:
    """Probe (downloading first, if enabled and absent) each video: the manifest of a split."""
    download = download or DownloadOptions()
    downloader = Downloader(videos_dir, download) if download.enabled else None
    rows = []
    for vid in video_ids:
        result, source = _check_one(
            str(vid), videos_dir, extensions, sample_rate, min_duration_s, video_list, downloader
        )
        rows.append({**asdict(result), "source": source})
    df = pd.DataFrame(rows)
    if df.empty:
        df = pd.DataFrame(columns=[*asdict(ProbeResult("", "", "", "")), "source"])
    return df


def _check_one(vid, videos_dir, extensions, sample_rate, min_duration_s, video_list, downloader):
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
    return probe(vid, path, sample_rate, min_duration_s=min_duration_s), source


def dataset_report(
    manifests: dict[str, pd.DataFrame],
    no_audio: str = "silence",
    video_list: list[str] | None = None,
    videos_dir_ids: list[str] | None = None,
) -> dict:
    """Counts per split and status, the excluded videos with reasons, and the mismatches between
    the label files and the video list / the videos directory."""
    usable = usable_statuses(no_audio)
    labelled = {v for m in manifests.values() for v in m["video_id"]}
    report: dict = {"splits": {}, "excluded": {}, "no_audio": {}}
    for split, m in manifests.items():
        counts = {k: int(v) for k, v in m["status"].value_counts().sort_index().items()}
        report["splits"][split] = {
            "listed": int(len(m)),
            "used": int(m["status"].isin(usable).sum()),
            "by_status": counts,
        }
        bad = m[~m["status"].isin(usable)]
        report["excluded"][split] = {r.video_id: f"{r.status}: {r.reason}" for r in bad.itertuples()}
        silent = m[m["status"] == "no_audio"]
        report["no_audio"][split] = sorted(silent["video_id"]) if no_audio == "silence" else []
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


def report_markdown(report: dict) -> str:
    lines = ["# Dataset check", "", "| split | listed | used | by status |", "|---|---|---|---|"]
    for split, s in report["splits"].items():
        by = ", ".join(f"{k} {v}" for k, v in s["by_status"].items())
        lines.append(f"| {split} | {s['listed']} | {s['used']} | {by} |")
    for split, bad in report["excluded"].items():
        if bad:
            lines += ["", f"## Excluded from {split}", ""]
            lines += [f"- `{v}`: {why}" for v, why in bad.items()]
    for split, vids in report["no_audio"].items():
        if vids:
            lines += ["", f"## {split}: no audio track (frames used, audio extractors hear silence)",
                      ""]
            lines += [f"- `{v}`" for v in vids]
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
