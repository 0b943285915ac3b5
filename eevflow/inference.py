"""Inference with a trained variant: the device choice, a model's predictions for a list of videos
(standardised with the training set's statistics, divided back by the training's target scale),
loading a self-describing checkpoint, and the long-format predictions table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from eevflow.models import build_model, config_from_dict
from eevflow.progress import progress
from eevflow.sequences import VideoSeq
from eevflow.split_stream import open_split, return_large_buffers


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def video_tensors(v: VideoSeq, mean, std, device, rows: np.ndarray | None = None):
    """(features (1, T, D), seconds (1, T)) of one video, standardised, on ``device``; only
    ``rows`` when given."""
    f = (v.features - mean) / std
    s = v.seconds
    if rows is not None:
        f, s = f[rows], s[rows]
    x = torch.from_numpy(np.ascontiguousarray(f, np.float32)).to(device)[None]
    return x, torch.from_numpy(np.ascontiguousarray(s)).to(device)[None]


@torch.inference_mode()
def predict_videos(model, videos, mean, std, device, target_scale: float = 1.0,
                   rows: list[np.ndarray] | None = None) -> list[np.ndarray]:
    """One (T, n_targets) float32 array per video (T: its rows, or ``rows[i]`` when given)."""
    was_training = model.training
    model.eval()
    out = []
    for i, v in enumerate(videos):
        x, s = video_tensors(v, mean, std, device, None if rows is None else rows[i])
        out.append((model(x, s)[0].float() / target_scale).cpu().numpy())
    model.train(was_training)
    return out


@dataclass
class Predictor:
    """A trained model with what its predictions need from training."""

    model: torch.nn.Module
    mean: np.ndarray
    std: np.ndarray
    device: torch.device
    target_scale: float = 1.0

    @classmethod
    def from_checkpoint(cls, ckpt: dict, device: str = "auto", threads: int = 1) -> Predictor:
        torch.set_num_threads(max(1, threads))
        dev = pick_device(device)
        config = config_from_dict(ckpt.get("family", "tcn"), ckpt["model_config"])
        model = build_model(config).to(dev)
        model.load_state_dict(ckpt["model_state"])
        return cls(model, ckpt["feature_mean"].numpy(), ckpt["feature_std"].numpy(), dev,
                   float(ckpt["train_config"].get("target_scale", 1.0)))

    def predict(self, videos: Sequence[VideoSeq]) -> list[np.ndarray]:
        return predict_videos(self.model, videos, self.mean, self.std, self.device,
                              self.target_scale)


def predictions_frame(videos: list[VideoSeq], preds: list[np.ndarray], targets: list[str]):
    """Long-format predictions: video_id, timestamp_us, one column per target."""
    if not videos:
        return pd.DataFrame(columns=["video_id", "timestamp_us", *targets])
    df = pd.DataFrame(np.concatenate(preds).astype(np.float32), columns=targets)
    df.insert(0, "timestamp_us", np.concatenate([v.timestamps_us for v in videos]))
    df.insert(0, "video_id", np.concatenate([[v.video_id] * len(v.timestamps_us) for v in videos]))
    return df


def _open(model_path, labels_path, shards, threads, device):
    ckpt = torch.load(model_path, map_location="cpu", weights_only=True)
    predictor = Predictor.from_checkpoint(ckpt, device=device, threads=threads)
    return predictor, open_split(labels_path, shards, None)


def predictions_schema(targets: list[str]) -> pa.Schema:
    """The predictions Parquet's columns: video_id, timestamp_us, one float32 column per target."""
    return pa.schema([pa.field("video_id", pa.string()), pa.field("timestamp_us", pa.int64()),
                      *[pa.field(t, pa.float32()) for t in targets]])


def _video_table(v: VideoSeq, pred: np.ndarray, sch: pa.Schema) -> pa.Table:
    n = len(v.timestamps_us)
    cols = [pa.array([v.video_id] * n, pa.string()), pa.array(v.timestamps_us, pa.int64())]
    cols += [pa.array(np.ascontiguousarray(pred[:, j], np.float32)) for j in range(pred.shape[1])]
    return pa.Table.from_arrays(cols, schema=sch)


def write_predictions(model_path, labels_path, shards: dict[str, list], targets: list[str],
                      out_path, threads: int = 1, device: str = "auto",
                      desc: str = "predict") -> tuple[int, dict]:
    """Predict every label row of one split with the checkpoint at ``model_path`` (``shards``:
    extractor -> that split's shard paths) into the Parquet file ``out_path``: the rows and
    columns of :func:`predictions_frame`, in the label file's order, written video by video
    (one row group each; the file appears when complete). Memory is one video's features and
    predictions, whatever the split's size. Returns the rows written and the videos without
    features (video id -> reason), which get no prediction. ``desc``: what the progress lines
    (eevflow.progress) call the job."""
    from eevflow.io import atomic_path

    return_large_buffers()
    predictor, data = _open(model_path, labels_path, shards, threads, device)
    sch, n = predictions_schema(list(targets)), 0
    with atomic_path(out_path) as tmp:
        with pq.ParquetWriter(tmp, sch) as writer:
            bar = progress(data.videos, desc=desc, unit="videos")
            for v in bar:
                pred = predictor.predict([v])[0]
                writer.write_table(_video_table(v, pred, sch))
                n += len(pred)
                bar.set_postfix(rows=n)
    return n, dict(data.skipped)


def predict_split(model_path, labels_path, shards: dict[str, list], targets: list[str],
                  threads: int = 1, device: str = "auto"):
    """:func:`write_predictions`' rows as a frame (for tests and small splits: the frame holds
    the whole split's predictions). Returns the frame and the videos without features."""
    predictor, data = _open(model_path, labels_path, shards, threads, device)
    videos, preds = [], []
    for v in data.videos:
        preds.append(predictor.predict([v])[0])
        videos.append(VideoSeq(v.video_id, v.timestamps_us, v.features[:0]))
    return predictions_frame(videos, preds, list(targets)), dict(data.skipped)
