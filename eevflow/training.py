"""Training and inference of one model variant over embedding shards.

Follows the winner's code (DESIGN.md): one video per step with gradient accumulation, rows with no
detection dropped from the training sequence (so the positional channel carries the gaps), the
loss of Eq. 4 (squared error averaged over a video's labelled rows and the targets), every row
kept at validation and test time, model selection by validation M_rho (or the last epoch).
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import torch

from eevflow import metrics
from eevflow.models.options import TrainingOptions
from eevflow.models.tcn import EEVTCN, TCNConfig
from eevflow.shards import read_shards

log = logging.getLogger(__name__)


@dataclass
class TrainConfig(TrainingOptions):
    """The variant's training options (eevflow.models.options.TrainingOptions, validated from the
    config) plus the scoring rule of validation M_rho."""

    constant_policy: str = "minus_one"


@dataclass
class VideoSeq:
    video_id: str
    timestamps_us: np.ndarray  # (T,)
    features: np.ndarray  # (T, D) float32
    labels: np.ndarray | None = None  # (T, n_targets) float32
    detected: np.ndarray | None = None  # (T,) bool

    @property
    def seconds(self) -> np.ndarray:
        return (self.timestamps_us / 1e6).astype(np.float32)


@dataclass
class SplitData:
    videos: list[VideoSeq]
    skipped: dict[str, str] = field(default_factory=dict)  # video_id -> why


def load_split(
    labels: pd.DataFrame,
    shards: dict[str, list[str]],
    targets: list[str] | None,
) -> SplitData:
    """Join label rows with each extractor's embeddings (concatenated in the order given).

    A video is kept when every extractor has it with exactly the label file's timestamps; others
    are listed in ``skipped`` with the reason (e.g. excluded by download_check).
    """
    feats = {name: read_shards(paths) for name, paths in shards.items()}
    out = SplitData(videos=[])
    for vid, rows in labels.groupby("video_id", sort=False):
        ts = rows["timestamp_us"].to_numpy(np.int64)
        parts, why = [], None
        for name, table in feats.items():
            if vid not in table:
                why = f"no {name} embeddings"
                break
            f_ts, emb = table[vid]
            if not np.array_equal(f_ts, ts):
                why = f"{name} timestamps differ from the labels"
                break
            parts.append(emb)
        if why:
            out.skipped[vid] = why
            continue
        seq = VideoSeq(vid, ts, np.concatenate(parts, axis=1).astype(np.float32))
        if targets is not None and all(t in rows for t in targets):
            seq.labels = rows[targets].to_numpy(np.float32)
            seq.detected = rows["detected"].to_numpy(bool)
        out.videos.append(seq)
    return out


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but CUDA is not available")
    return torch.device(name)


def feature_stats(videos: list[VideoSeq]) -> tuple[np.ndarray, np.ndarray]:
    allf = np.concatenate([v.features for v in videos], axis=0).astype(np.float64)
    mean, std = allf.mean(axis=0), allf.std(axis=0)
    return mean.astype(np.float32), np.where(std > 1e-6, std, 1.0).astype(np.float32)


def shuffled_labels(videos: list[VideoSeq], seed: int) -> list[VideoSeq]:
    """Control data: the labelled rows of the whole training set permuted among themselves.

    Features, timestamps and the no-detection mask stay; each labelled row gets the scores of a
    random labelled row of any video. Permuting only within a video would keep a link between a
    video's features and its mean scores, which leaks a little signal into within-video
    correlations; permuting across the set leaves none.
    """
    rng = np.random.default_rng(seed)
    pooled = np.concatenate([v.labels[v.detected] for v in videos])
    pooled = pooled[rng.permutation(len(pooled))]
    out, pos = [], 0
    for v in videos:
        labels = v.labels.copy()
        n = int(v.detected.sum())
        labels[v.detected] = pooled[pos : pos + n]
        pos += n
        out.append(VideoSeq(v.video_id, v.timestamps_us, v.features, labels, v.detected))
    return out


class Trainer:
    def __init__(self, model_cfg: TCNConfig, train_cfg: TrainConfig, threads: int = 1):
        self.model_cfg, self.cfg = model_cfg, train_cfg
        torch.set_num_threads(max(1, threads))
        torch.manual_seed(train_cfg.seed)
        self.device = pick_device(train_cfg.device)
        if self.device.type == "cpu":
            torch.use_deterministic_algorithms(True)
        self.model = EEVTCN(model_cfg).to(self.device)
        self.mean = np.zeros(model_cfg.input_dim, np.float32)  # feature standardisation
        self.std = np.ones(model_cfg.input_dim, np.float32)

    def _tensors(self, v: VideoSeq, rows: np.ndarray | None = None):
        f = (v.features - self.mean) / self.std
        s = v.seconds
        if rows is not None:
            f, s = f[rows], s[rows]
        x = torch.from_numpy(np.ascontiguousarray(f, np.float32)).to(self.device)[None]
        return x, torch.from_numpy(np.ascontiguousarray(s)).to(self.device)[None]

    @torch.inference_mode()
    def predict(self, videos: list[VideoSeq]) -> list[np.ndarray]:
        self.model.eval()
        return [self.model(*self._tensors(v))[0].float().cpu().numpy() for v in videos]

    def validate(self, videos: list[VideoSeq]) -> float:
        preds = self.predict(videos)
        ids = np.concatenate([np.full(len(v.timestamps_us), i) for i, v in enumerate(videos)])
        y = np.concatenate([v.labels for v in videos])
        res = metrics.score(ids, y, np.concatenate(preds), policy=self.cfg.constant_policy)
        return float(res.m_rho)

    def fit(self, train: list[VideoSeq], val: list[VideoSeq]) -> dict:
        cfg = self.cfg
        if not train:
            raise ValueError("no training videos with both labels and features")
        if cfg.standardize:
            self.mean, self.std = feature_stats(train)
        if cfg.shuffle_labels:
            train = shuffled_labels(train, cfg.seed)
        params = self.model.parameters()
        if cfg.optimizer == "sgd":
            opt = torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)
        history, best = [], {"epoch": -1, "val_m_rho": -np.inf}
        best_state = None
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            self.model.train()
            opt.zero_grad(set_to_none=True)
            order = rng.permutation(len(train))
            total = 0.0
            for k, i in enumerate(order):
                v = train[i]
                rows = np.flatnonzero(v.detected)  # the authors drop undetected rows
                if len(rows) == 0:
                    continue
                x, s = self._tensors(v, rows)
                y = torch.from_numpy(v.labels[rows]).to(self.device)
                loss = torch.mean((self.model(x, s)[0] - y) ** 2)  # Eq. 4 for one video
                (loss / cfg.grad_accum).backward()
                total += float(loss.detach())
                if (k + 1) % cfg.grad_accum == 0 or k == len(order) - 1:
                    opt.step()
                    opt.zero_grad(set_to_none=True)
            val_m_rho = self.validate(val) if val else float("nan")
            rec = {
                "epoch": epoch,
                "train_loss": total / len(train),
                "val_m_rho": val_m_rho,
                "seconds": time.perf_counter() - t0,
            }
            history.append(rec)
            log.info("epoch %d: %s", epoch, rec)
            take_best = cfg.selection == "best_val" and val and val_m_rho > best["val_m_rho"]
            if take_best or cfg.selection == "last" or not val:
                best = {"epoch": epoch, "val_m_rho": val_m_rho}
                best_state = copy.deepcopy(self.model.state_dict())
        if best_state is not None:
            self.model.load_state_dict(best_state)
        return {"history": history, "best": best}

    def checkpoint(self, **extra) -> dict:
        return {
            "model_state": {k: v.cpu() for k, v in self.model.state_dict().items()},
            "model_config": self.model_cfg.to_dict(),
            "train_config": asdict(self.cfg),
            "feature_mean": torch.from_numpy(self.mean),
            "feature_std": torch.from_numpy(self.std),
            **extra,
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict, device: str = "auto", threads: int = 1) -> Trainer:
        train_cfg = TrainConfig(**{**ckpt["train_config"], "device": device})
        trainer = cls(TCNConfig(**ckpt["model_config"]), train_cfg, threads=threads)
        trainer.model.load_state_dict(ckpt["model_state"])
        trainer.mean = ckpt["feature_mean"].numpy()
        trainer.std = ckpt["feature_std"].numpy()
        return trainer


def predictions_frame(videos: list[VideoSeq], preds: list[np.ndarray], targets: list[str]):
    """Long-format predictions: video_id, timestamp_us, one column per target."""
    if not videos:
        return pd.DataFrame(columns=["video_id", "timestamp_us", *targets])
    df = pd.DataFrame(np.concatenate(preds).astype(np.float32), columns=targets)
    df.insert(0, "timestamp_us", np.concatenate([v.timestamps_us for v in videos]))
    df.insert(0, "video_id", np.concatenate([[v.video_id] * len(v.timestamps_us) for v in videos]))
    return df
