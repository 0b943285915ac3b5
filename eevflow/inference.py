"""Inference with a trained variant: the device choice, a model's predictions for a list of videos
(standardised with the training set's statistics, divided back by the training's target scale),
loading a self-describing checkpoint, and the long-format predictions table."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from eevflow.models import build_model, config_from_dict
from eevflow.sequences import VideoSeq


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

    def predict(self, videos: list[VideoSeq]) -> list[np.ndarray]:
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


def predict_split(model_path, labels_path, shards: dict[str, list], targets: list[str],
                  threads: int = 1, device: str = "auto"):
    """Predict every label row of one split with the checkpoint at ``model_path``: ``shards`` is
    extractor -> that split's shard paths. Returns the long-format frame and the videos without
    features (video id -> reason), which get no prediction."""
    import torch

    from eevflow.sequences import load_split

    ckpt = torch.load(model_path, map_location="cpu", weights_only=True)
    predictor = Predictor.from_checkpoint(ckpt, device=device, threads=threads)
    labels = pd.read_parquet(labels_path, columns=["video_id", "timestamp_us"])
    data = load_split(labels, shards, None)
    return predictions_frame(data.videos, predictor.predict(data.videos), list(targets)), dict(
        data.skipped
    )
