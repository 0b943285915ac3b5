"""Predict videos that have no label file with a trained variant, sweep or ensemble: the
``eevflow predict`` command and the workflow's ``predict_videos`` target.

Each video is probed (eevflow.media.probe), given EEV's 6 Hz timeline from its own duration
(:func:`timeline_us`), decoded once into a temporary shard folder by the decode job's own code
with the settings its model's features were decoded with (eevflow.decoded_shard), embedded by
the extractors the checkpoint names, rebuilt from the options it recorded
(eevflow.feature_inputs; a clip-level extractor gets the video's clip grid decoded with its
recorded ``clips`` settings, a subtitles extractor the subtitle file beside the video), and
predicted by the same ``Predictor`` as the workflow's predict rule
(eevflow.inference). The numbers are those the predict rule gives for the same video and
timestamps: raw model outputs, not clipped to the target range (the submission rule clips).

A model is named by its file: a variant's ``model.pt``, a sweep's ``sweep.json`` (its kept point),
or an ensemble's ``weights.json`` (its members' model files, found in the same results folder).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from eevflow import feature_inputs
from eevflow.clips import ClipSettings, decode_clip_shard, iter_clip_videos
from eevflow.decoded_shard import decode_shard, iter_shard, load_video
from eevflow.decoding import DecodeError
from eevflow.ensemble import weighted_average
from eevflow.features import Extractor, build_extractor
from eevflow.ids import InvalidVideoId, file_video_id, videos_by_id
from eevflow.inference import Predictor, pick_device, predictions_frame
from eevflow.labels import LABEL_HZ, label_times_us, write_predictions_csv
from eevflow.layout import Layout
from eevflow.media import probe
from eevflow.sequences import VideoSeq

log = logging.getLogger(__name__)


class VideoError(ValueError):
    """A video that cannot be predicted (missing, corrupt, too short, an unusable name)."""


def timeline_us(duration_s: float) -> np.ndarray:
    """EEV's label times for a video of ``duration_s`` seconds: ``round(i * 1e6 / 6)`` µs for
    the floor(duration x 6) rows that start before its end (the layout of the EEV label files
    and of the demo's)."""
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise VideoError(f"duration {duration_s!r} s: no label rows")
    return label_times_us(int(math.floor(duration_s * LABEL_HZ + 1e-6)))


@dataclass
class Member:
    """One trained model of a (possibly ensembled) model, with its weight."""

    name: str
    path: str
    weight: float
    predictor: Predictor
    features: list[str]


@dataclass
class Model:
    """What predicting a new video with a model needs: its members, the targets they predict, the
    extractors (feature -> config entry) and the decode settings their features were made with."""

    name: str
    members: list[Member]
    targets: list[str]
    extractors: dict[str, dict[str, Any]]
    decode: dict[str, Any]
    clips: dict[str, dict[str, Any]] = field(default_factory=dict)  # feature -> clip settings
    _built: dict[str, Extractor] = field(default_factory=dict, repr=False)


def model_files(path: str | Path) -> list[tuple[str, str, float]]:
    """``[(member name, model.pt path, weight)]`` of the model file ``path``: a ``model.pt``
    (itself, weight 1), a ``sweep.json`` (its kept point's model) or a ``weights.json`` (each
    member's, with the chosen weights). Members are found in the results folder the file is in
    (``<results>/predictions/<name>/<file>``, eevflow.layout)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no model file {path}")
    if path.suffix == ".pt":
        return [(path.parent.name, str(path), 1.0)]
    if path.suffix != ".json":
        raise ValueError(f"{path}: a model is a model.pt, a sweep.json or an ensemble's "
                         "weights.json")
    doc = json.loads(path.read_text())
    layout = Layout(str(path.parents[2]))
    if "chosen" in doc:  # a sweep's table: its kept point
        return [(doc["chosen"], _existing(layout.model(doc["chosen"]), path), 1.0)]
    if "weights" not in doc:
        raise ValueError(f"{path}: neither a sweep table (chosen) nor ensemble weights (weights)")
    out = []
    for member, weight in doc["weights"].items():
        sweep = Path(layout.sweep_table(member))
        if sweep.is_file():
            ((name, file, _),) = model_files(sweep)
            out.append((name, file, float(weight)))
        else:
            out.append((member, _existing(layout.model(member), path), float(weight)))
    return out


def _existing(model_path: str, named_by: Path) -> str:
    if not Path(model_path).is_file():
        raise FileNotFoundError(f"{named_by} names a model whose file {model_path} is missing")
    return model_path


def load_model(path: str | Path, config: Mapping[str, Any] | None = None, device: str = "auto",
               threads: int = 1) -> Model:
    """The model ``path`` names (:func:`model_files`), ready to predict. ``config``: a workflow
    config whose ``extractors``, ``decode`` and ``clips`` stand in for what a checkpoint does not
    record."""
    members, extractors, clips, decodes, targets = [], {}, {}, [], None
    for name, file, weight in model_files(path):
        ckpt = torch.load(file, map_location="cpu", weights_only=True)
        found = feature_inputs.resolve(ckpt, file, config)
        feats = found.extractors
        for feat, opts in feats:
            if (extractors.setdefault(feat, opts) != opts
                    or clips.setdefault(feat, found.clips.get(feat)) != found.clips.get(feat)):
                raise feature_inputs.MissingExtractorError(
                    f"{path}: members define feature {feat!r} differently")
        if found.decode:  # {}: the member reads no media (subtitles only)
            decodes.append((file, found.decode))
        member_targets = list(ckpt.get("targets") or [])
        if targets is not None and member_targets != targets:
            raise ValueError(f"{path}: member {name} predicts {member_targets}, not {targets}")
        targets = member_targets
        members.append(Member(name, file, weight,
                              Predictor.from_checkpoint(ckpt, device=device, threads=threads),
                              [f for f, _ in feats]))
    for file, decode in decodes[1:]:
        if decode != decodes[0][1]:
            raise feature_inputs.MissingExtractorError(
                f"{path}: {file}'s features were decoded with {decode}, "
                f"{decodes[0][0]}'s with {decodes[0][1]}; eevflow decodes a video once")
    if not targets:
        raise ValueError(f"{path}: the checkpoint names no targets")
    return Model(Path(path).parent.name, members, targets, extractors,
                 decodes[0][1] if decodes else {},
                 {f: c for f, c in clips.items() if c})


def video_id_of(path: str | Path) -> str:
    """A new video's ID: its file name without the extension (eevflow.ids.file_video_id)."""
    try:
        return file_video_id(path)
    except InvalidVideoId as exc:
        raise VideoError(str(exc)) from None


@dataclass
class Prediction:
    video_id: str
    path: str
    duration_s: float
    timestamps_us: np.ndarray
    scores: pd.DataFrame  # video_id, timestamp_us, one column per target
    thumbnails: list[tuple[float, np.ndarray]]  # (time in s, HxWx3 uint8)


def predict_video(model: Model, path: str | Path, video_id: str | None = None,
                  n_thumbnails: int = 8, threads: int = 1) -> Prediction:
    """Probe, decode, embed and predict one video (module docstring). Raises
    :class:`VideoError` for a video that cannot be used, naming its status and reason."""
    video_id = video_id or video_id_of(path)
    d = model.decode
    row = probe(video_id, path, sample_rate=d.get("sample_rate", 16000),
                backend=d.get("backend", "pyav"))
    if not row.usable:
        raise VideoError(f"{path}: {row.status}: {row.reason}")
    ts = timeline_us(row.duration_s)
    with tempfile.TemporaryDirectory(prefix=f"eevflow-predict-{video_id}-") as tmp:
        shard = Path(tmp) / "shard"
        decode_shard(shard, [(video_id, str(path))], {video_id: ts}, threads=threads,
                     **{k: v for k, v in d.items()})
        embedded = {}
        for feat, opts in model.extractors.items():
            ext = model._built.get(feat)
            if ext is None:
                ext = build_extractor(feat, opts, device=str(pick_device("auto")),
                                      threads=threads)
                model._built[feat] = ext
            video = _feature_input(model, feat, ext, shard, path, video_id, ts, row.duration_s,
                                   threads)
            embedded[feat] = np.asarray(ext.embed(video), np.float32)
            log.info("%s: %s, %d rows x %d", video_id, feat, *embedded[feat].shape)
        thumbs = _thumbnails(shard, video_id, ts, n_thumbnails, d.get("store", "raw"), path)
    frames = {}
    for m in model.members:
        seq = VideoSeq(video_id, ts, np.concatenate([embedded[f] for f in m.features], axis=1))
        (pred,) = m.predictor.predict([seq])
        frames[m.name] = predictions_frame([seq], [pred], model.targets)
    if len(frames) == 1:
        scores = next(iter(frames.values()))
    else:
        scores = weighted_average(frames, {m.name: m.weight for m in model.members},
                                  model.targets)
    return Prediction(video_id, str(path), float(row.duration_s), ts, scores, thumbs)


def _feature_input(model: Model, feat: str, ext: Extractor, shard: Path, path, video_id: str,
                   ts: np.ndarray, duration_s: float, threads: int):
    """What extractor ``ext`` embeds of the new video, as the workflow's extract job gives it
    (workflow_scripts/extract.py): the decoded shard's frames or sound; for a clip-level
    extractor, the clip stream decoded with the settings its features were made with
    (eevflow.clips; decoded once per distinct settings); for subtitles, the label rows and the
    video's subtitle file (the extractor's ``dir``, else the video's own folder)."""
    stream = ext.options_class.input_stream
    if stream == "clips":
        clips_dir = _clip_shard(shard.parent, model.clips[feat], video_id, path, duration_s,
                                threads)
        (video,) = list(iter_clip_videos(shard, clips_dir))
        return video
    if stream == "subtitles":
        folder = ext.opts.dir or str(Path(path).parent)
        try:
            video = ext.subtitle_rows(video_id, ts, folder)
        except InvalidVideoId as exc:
            raise VideoError(f"{path}: no subtitle file name for feature {feat}: {exc}") from None
        if video.path is None:
            log.warning("%s: feature %s: no subtitle file (%s) in %s: its rows are zeros, "
                        "flag 0", video_id, feat, ", ".join(ext.opts.languages), folder)
        return video
    if not ext.reads_media:
        raise VideoError(f"feature {feat}: backend {ext.backend} embeds no media of a new video")
    (video,) = list(iter_shard(shard, ext.modality, sources=[str(path)]))
    return video


def _clip_shard(tmp: Path, settings: dict[str, Any], video_id: str, path, duration_s: float,
                threads: int) -> Path:
    """The new video's clip shard for ``settings`` (as the decode_clips rule makes it)."""
    key = json.dumps(settings, sort_keys=True)
    folder = tmp / f"clips-{hashlib.sha1(key.encode()).hexdigest()[:12]}"
    if not (folder / "index.json").is_file():
        stream = ClipSettings.from_dict(
            {"fps": settings["clip_fps"], "frame_size": settings["frame_size"],
             "store": settings["store"], "threads": max(1, threads)}, ("clips",))
        jpeg = {k: settings[k] for k in ("jpeg_quality", "jpeg_subsampling") if k in settings}
        try:
            decode_clip_shard(folder, [(video_id, str(path))], {video_id: duration_s}, stream,
                              backend=settings.get("backend", "pyav"), **jpeg)
        except DecodeError as exc:
            raise VideoError(f"{path}: {exc}") from None
    return folder


def _thumbnails(shard: Path, video_id: str, ts: np.ndarray, n: int, store: str, path):
    """``n`` frames spread over the video (the decoded frames at those rows)."""
    if n <= 0 or len(ts) == 0:
        return []
    rows = np.unique(np.linspace(0, len(ts) - 1, min(n, len(ts))).round().astype(int))
    if store == "none":
        (decoded,) = list(iter_shard(shard, "visual", sources=[str(path)]))
    else:
        decoded = load_video(shard, video_id, "visual")
    return [(float(ts[i]) / 1e6, np.array(decoded.frames[i])) for i in rows]


def write_outputs(pred: Prediction, targets: list[str], csv_path: str | Path,
                  png_path: str | Path | None, title: str | None = None) -> None:
    """The EEV-layout CSV (``Video ID,Timestamp (milliseconds),<targets>``, timestamps in µs)
    and the plot of the predicted curves with the video's thumbnails (both written atomically)."""
    write_predictions_csv(pred.scores, targets, csv_path)
    if png_path is None:
        return
    from eevflow.plots import curves_figure, save_figure

    fig = curves_figure(pred.timestamps_us / 1e6, pred.scores[targets].to_numpy(), targets,
                        thumbnails=pred.thumbnails,
                        title=title or f"{pred.video_id} ({pred.duration_s:.1f} s)")
    save_figure(fig, png_path)


def predict_files(model_path: str | Path, videos: Sequence[str | Path], out_dir: str | Path,
                  config: Mapping[str, Any] | None = None, device: str = "auto",
                  threads: int = 1, n_thumbnails: int = 8, plot: bool = True,
                  keep_going: bool = True) -> dict[str, str]:
    """Predict each of ``videos`` with the model file ``model_path`` into ``out_dir``
    (``<id>.csv`` and ``<id>.png``). A video that cannot be used is logged and counted (or, with
    ``keep_going=False``, raises). Returns video -> "ok" or why it was not predicted."""
    try:
        ids = videos_by_id(videos)
    except InvalidVideoId as exc:
        raise VideoError(str(exc)) from None
    model = load_model(model_path, config=config, device=device, threads=threads)
    out, done = Path(out_dir), {}
    for vid, v in ids.items():
        try:
            pred = predict_video(model, v, vid, n_thumbnails=n_thumbnails, threads=threads)
        except VideoError as exc:
            if not keep_going:
                raise
            log.warning("not predicted: %s", exc)
            done[str(v)] = str(exc)
            continue
        write_outputs(pred, model.targets, out / f"{vid}.csv",
                      out / f"{vid}.png" if plot else None)
        log.info("%s: %d rows (%.1f s) -> %s", v, len(pred.timestamps_us), pred.duration_s,
                 out / f"{vid}.csv")
        done[str(v)] = "ok"
    failed = sum(1 for s in done.values() if s != "ok")
    log.info("%d of %d videos predicted, %d could not be used", len(done) - failed, len(done),
             failed)
    return done
