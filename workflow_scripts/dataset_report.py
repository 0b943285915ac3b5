"""The dataset check report: per split counts by status, every excluded video with its reason,
and the videos in the video list or the videos directory that no label file names."""

import _paths  # noqa: F401  (makes eevflow importable)
import logging
import os

import pandas as pd

from eevflow.io import atomic_path, write_json
from eevflow.manifest import ProbeOptions, dataset_report, read_video_list, report_markdown
from eevflow.runtime import run_script


def main(sm):
    manifests = {split: pd.read_parquet(sm.input[f"manifest__{split}"]) for split in sm.params.splits}
    exts = tuple(sm.params.extensions)
    on_disk = sorted(
        os.path.splitext(name)[0]
        for name in (os.listdir(sm.params.videos_dir) if os.path.isdir(sm.params.videos_dir) else [])
        if name.endswith(exts) and not name.startswith(".")
    )
    listed = read_video_list(sm.input.video_list) if sm.input.get("video_list") else None
    options = ProbeOptions.from_config(sm.params.probe, sm.params.decode)
    report = dataset_report(manifests, options, listed, on_disk)
    for key in ("video_list_not_in_labels", "videos_dir_not_in_labels", "in_several_splits"):
        if report.get(key):
            logging.warning("%s: %d videos", key, len(report[key]))
    write_json(report, sm.output.json)
    with atomic_path(sm.output.md) as tmp:
        tmp.write_text(report_markdown(report))


run_script(snakemake, main)  # noqa: F821
