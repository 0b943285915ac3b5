"""Streamed train and predict (issue 15): videos read one at a time from the Parquet shards give
the same videos, statistics, validation M_rho, trained weights and predictions as the in-memory
path (``load_split`` of a label frame and every shard read whole)."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from eevflow import metrics
from eevflow.inference import predict_videos, predictions_frame, write_predictions
from eevflow.labels import write_labels_parquet
from eevflow.models import model_config
from eevflow.models.options import model_type
from eevflow.past_end import drop_past_end
from eevflow.sequences import feature_stats, load_split, shuffled_labels
from eevflow.split_stream import open_split
from eevflow.shards import write_shard
from eevflow.train_job import train_variant
from eevflow.training import TrainConfig, Trainer
from eevflow.validation import split_rows

TARGETS = ["t0", "t1", "t2"]
DIMS = {"x": 6, "y": 3}
MODALITY = {"x": "visual", "y": "audio"}


def _split(tmp_path, split, n, seed, n_shards=2, lengths=(20, 45)):
    """Real files of one split: a label Parquet (the labels rule's writer) and two extractors'
    shards, with a video missing from ``y``, one whose ``x`` timestamps differ from the labels,
    undetected rows, constant targets and a one-row video."""
    rng = np.random.default_rng(seed)
    rows, vids = [], []
    for i in range(n):
        vid = f"{split}{i:02d}"
        T = 1 if i == 3 else int(rng.integers(*lengths))
        ts = (np.arange(T) * 1e6 / 6).round().astype(np.int64)
        y = rng.uniform(0, 1, size=(T, len(TARGETS))).astype(np.float32)
        y[rng.random(T) < 0.15] = 0.0
        if i == 4:
            y[:, 1] = 0.25  # a constant target
        frame = pd.DataFrame({"video_id": vid, "timestamp_us": ts})
        for j, t in enumerate(TARGETS):
            frame[t] = y[:, j]
        frame["detected"] = y.sum(axis=1) > 1e-6
        rows.append(frame)
        vids.append((vid, ts))
    labels = pd.concat(rows, ignore_index=True)
    write_labels_parquet(labels, tmp_path / f"{split}_labels.parquet")
    shards = {}
    for name, dim in DIMS.items():
        items = [[] for _ in range(n_shards)]
        for k, (vid, ts) in enumerate(vids):
            if name == "y" and k == 1:
                continue  # no y embeddings
            ts_x = ts + 1 if (name == "x" and k == 2) else ts  # timestamps differ
            emb = rng.normal(size=(len(ts), dim)).astype(np.float32) * (1 + np.arange(dim))
            items[k % n_shards].append((vid, ts_x, emb + 3.0))
        paths = []
        for s, its in enumerate(items):
            path = tmp_path / f"{split}_{name}_{s}.parquet"
            write_shard(path, iter(its), dim, {"extractor": name, "modality": MODALITY[name]})
            paths.append(str(path))
        shards[name] = paths
    return str(tmp_path / f"{split}_labels.parquet"), labels, shards


def _same_videos(a, b):
    assert len(a) == len(b)
    for va, vb in zip(a, b):
        assert va.video_id == vb.video_id
        for field in ("timestamps_us", "features", "labels", "detected"):
            x, y = getattr(va, field), getattr(vb, field)
            assert (x is None) == (y is None), field
            if x is not None:
                assert x.dtype == y.dtype and np.array_equal(x, y), (va.video_id, field)


def test_labels_parquet_has_one_row_group_per_video(tmp_path):
    path, labels, _ = _split(tmp_path, "train", 6, 0)
    pf = pq.ParquetFile(path)
    assert pf.num_row_groups == labels["video_id"].nunique()
    for rg in range(pf.num_row_groups):
        assert pf.read_row_group(rg, columns=["video_id"]).column(0).unique().to_pylist() == [
            labels["video_id"].unique()[rg]]
    pd.testing.assert_frame_equal(pd.read_parquet(path), labels)
    write_labels_parquet(labels.iloc[:0], tmp_path / "empty.parquet")
    assert pd.read_parquet(tmp_path / "empty.parquet").empty


@pytest.mark.parametrize("targets", [TARGETS, None])
def test_open_split_reads_what_load_split_holds(tmp_path, targets):
    path, labels, shards = _split(tmp_path, "train", 9, 1)
    ref = load_split(labels, shards, targets)
    got = open_split(path, shards, targets)
    assert got.skipped == ref.skipped == {
        "train01": "no y embeddings", "train02": "x timestamps differ from the labels"}
    assert got.blocks == ref.blocks == [("x", 6), ("y", 3)]
    _same_videos(got.videos, ref.videos)
    _same_videos([got.videos[i] for i in (4, 0, 4)], [ref.videos[i] for i in (4, 0, 4)])
    assert got.videos.longest == max(len(v.timestamps_us) for v in ref.videos)
    with pytest.raises(TypeError, match="one integer index"):
        got.videos[0:2]


def test_open_split_reads_label_files_with_several_videos_per_row_group(tmp_path):
    """A label file not written by the labels rule (pandas' one row group, or row groups that
    cut videos in two) gives the same videos."""
    _, labels, shards = _split(tmp_path, "train", 9, 2)
    labels.to_parquet(tmp_path / "big.parquet", index=False, row_group_size=17)
    assert pq.ParquetFile(tmp_path / "big.parquet").num_row_groups > 1
    got = open_split(tmp_path / "big.parquet", shards, TARGETS)
    ref = load_split(labels, shards, TARGETS)
    assert got.skipped == ref.skipped
    _same_videos(got.videos, ref.videos)


def test_shards_with_two_videos_in_a_row_group_or_a_video_twice_are_errors(tmp_path):
    path, labels, shards = _split(tmp_path, "train", 4, 3)
    with pytest.raises(ValueError, match="more than one shard"):
        open_split(path, {"x": shards["x"] + shards["x"][:1]}, TARGETS)
    two = pd.read_parquet(shards["x"][0])
    two.to_parquet(tmp_path / "two.parquet", index=False)
    with pytest.raises(ValueError, match="more than one video"):
        open_split(path, {"x": [str(tmp_path / "two.parquet")]}, TARGETS)


def test_past_end_and_holdout_match_the_frame_path(tmp_path):
    path, labels, shards = _split(tmp_path, "val", 9, 4)
    manifest = pd.DataFrame({"video_id": labels["video_id"].unique(), "duration_s": 4.0})
    manifest.loc[5, "duration_s"] = np.nan
    manifest.to_parquet(tmp_path / "manifest.parquet")
    past_end = {"policy": "drop", "tolerance_s": 0.5}
    frame = drop_past_end(labels, [str(tmp_path / "manifest.parquet")], past_end, "unlabel")
    frame, held = split_rows(frame, 0.3, "selection", labels["video_id"].unique())
    assert held and (frame["detected"] != labels.loc[frame.index, "detected"]).any()
    ref = load_split(frame, shards, TARGETS)
    durations = dict(zip(manifest["video_id"], manifest["duration_s"]))
    got = open_split(path, shards, TARGETS, exclude=held, past_end=(durations, 0.5))
    assert got.skipped == ref.skipped
    _same_videos(got.videos, ref.videos)


def _concatenated_stats(videos, blocks=None):
    """The statistics as the in-memory code computed them (every row concatenated)."""
    allf = np.concatenate([v.features for v in videos]).astype(np.float64)
    mean, std = allf.mean(axis=0), allf.std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    if blocks is not None:
        std = std * np.repeat(np.sqrt(np.asarray(blocks, np.float64)), blocks)
    return mean.astype(np.float32), std.astype(np.float32)


def test_streamed_feature_stats_equal_the_concatenated_ones(tmp_path):
    path, _, shards = _split(tmp_path, "train", 12, 5)
    videos = open_split(path, shards, TARGETS).videos
    held = list(videos)
    for blocks in (None, [6, 3]):
        mean, std = feature_stats(videos, blocks)
        want_mean, want_std = _concatenated_stats(held, blocks)
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(std, want_std, rtol=1e-6)
    # large offsets and a constant column: the centred update stays accurate
    rng = np.random.default_rng(0)
    big = [v.__class__(v.video_id, v.timestamps_us,
                       (1e4 + rng.normal(size=v.features.shape)).astype(np.float32))
           for v in held]
    for v in big:
        v.features[:, 0] = 7.0
    mean, std = feature_stats(big)
    want_mean, want_std = _concatenated_stats(big)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-7)
    np.testing.assert_allclose(std, want_std, rtol=1e-5)
    assert std[0] == 1.0


@pytest.mark.parametrize("val_rows", ["scoring", "detected", "all"])
@pytest.mark.parametrize("policy", ["minus_one", "epsilon", "skip"])
def test_streamed_validation_equals_one_score_call(tmp_path, val_rows, policy):
    path, _, shards = _split(tmp_path, "val", 12, 6)
    val = open_split(path, shards, TARGETS).videos
    cfg = model_config("tcn", {"channels": 8, "dilations": [1, 2]}, 9, len(TARGETS))
    trainer = Trainer(cfg, TrainConfig(epochs=1, val_rows=val_rows, constant_policy=policy))
    trainer.mean, trainer.std = feature_stats(val)
    held = list(val)
    rows = [np.flatnonzero(v.detected) for v in held] if val_rows == "detected" else None
    preds = predict_videos(trainer.model, held, trainer.mean, trainer.std, trainer.device, 1.0,
                           rows)
    ids = np.concatenate([np.full(len(p), i) for i, p in enumerate(preds)])
    y = np.concatenate([v.labels if rows is None else v.labels[r]
                        for v, r in zip(held, rows or [None] * len(held))])
    ignore = {"scoring": True, "detected": True, "all": False}[val_rows]
    want = metrics.score(ids, y, np.concatenate(preds), policy=policy, ignore_undetected=ignore)
    got = trainer.validate(val)
    assert got == want.m_rho or (np.isnan(got) and np.isnan(want.m_rho))
    assert want.n_unscorable_videos >= 1  # the one-row video is in


SETTINGS = {
    "tcn": {"model": {"type": "tcn", "channels": 8, "dilations": [1, 2], "dropout": 0.1},
            "training": {"epochs": 3, "optimizer": "adam", "lr": 0.01, "grad_accum": 2,
                         "row_dropout": 0.2, "balance_extractors": True}},
    "tcn_control": {"model": {"type": "tcn", "channels": 8, "dilations": [1, 2]},
                    "training": {"epochs": 2, "optimizer": "adam", "lr": 0.01, "grad_accum": 3,
                                 "shuffle_labels": True, "val_rows": "detected"}},
    "linear": {"model": {"type": "linear", "lags_s": [1.0], "past_means_s": [2.0],
                         "alphas": [0.1, 10.0]}, "training": {}},
    "bigru": {"model": {"type": "bigru", "hidden_visual": 6, "hidden_audio": 3, "window_s": 3.0},
              "training": {"epochs": 2, "optimizer": "adam", "lr": 0.01, "grad_accum": 2,
                           "loss": "l1"}},
}


@pytest.mark.parametrize("name", list(SETTINGS))
def test_streamed_training_and_prediction_equal_the_in_memory_path(tmp_path, name):
    """train_variant (the train script's code) on the files vs the Trainer on the videos held
    in memory: the same weights, history and checkpoint; predictions written video by video
    from that checkpoint equal the in-memory frame."""
    tr_path, tr_labels, tr_shards = _split(tmp_path, "train", 10, 7)
    va_path, va_labels, va_shards = _split(tmp_path, "val", 7, 8)
    settings = {"features": ["x", "y"], **SETTINGS[name]}
    scoring = {"constant_policy": "minus_one", "ignore_undetected": True}
    hist = train_variant(
        variant=name, labels={"train": tr_path, "val": va_path},
        shards={"train": tr_shards, "val": va_shards}, settings=settings, targets=TARGETS,
        scoring=scoring, past_end={"policy": "keep", "tolerance_s": 0.5}, past_end_manifests=[],
        weights_holdout_fraction=0.0, model_path=str(tmp_path / "m.pt"),
        history_path=str(tmp_path / "h.json"), state_path=str(tmp_path / "state.pt"))
    # the reference: the split in memory, validated by one metrics.score call over it
    train, val = load_split(tr_labels, tr_shards, TARGETS), load_split(va_labels, va_shards, TARGETS)
    cfg = model_config(model_type(settings["model"]), settings["model"], 9, len(TARGETS),
                       streams=[[f, d, MODALITY[f]] for f, d in DIMS.items()])
    ref = Trainer(cfg, TrainConfig(**scoring, **settings["training"]))

    def validate(videos, model=None):
        model = ref.model if model is None else model
        det = ref.cfg.val_rows == "detected"
        rows = [np.flatnonzero(v.detected) for v in videos] if det else None
        preds = predict_videos(model, videos, ref.mean, ref.std, ref.device, 1.0, rows)
        ids = np.concatenate([np.full(len(p), i) for i, p in enumerate(preds)])
        y = np.concatenate([v.labels[v.detected] if det else v.labels for v in videos])
        return float(metrics.score(ids, y, np.concatenate(preds)).m_rho)

    ref.validate = validate
    ref_result = ref.fit(train.videos, val.videos, blocks=[d for _, d in train.blocks])
    ckpt = torch.load(tmp_path / "m.pt", weights_only=False)
    for k, v in ref.model.state_dict().items():
        assert torch.equal(ckpt["model_state"][k], v), k
    assert torch.equal(ckpt["feature_mean"], torch.from_numpy(ref.mean))
    assert torch.equal(ckpt["feature_std"], torch.from_numpy(ref.std))
    # on this data the one-pass statistics are bitwise those of the concatenated rows
    blocks = [6, 3] if settings["training"].get("balance_extractors") else None
    want_mean, want_std = _concatenated_stats(train.videos, blocks)
    assert np.array_equal(ref.mean, want_mean) and np.array_equal(ref.std, want_std)
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]
    assert drop(hist["history"]) == drop(ref_result["history"])
    assert hist["best"] == ref_result["best"]
    assert json.loads((tmp_path / "h.json").read_text())["skipped"] == {
        "train": train.skipped, "val": val.skipped}
    assert ckpt["n_train_videos"] == len(train.videos) and not (tmp_path / "state.pt").exists()

    out = tmp_path / "pred.parquet"
    n, skipped = write_predictions(tmp_path / "m.pt", va_path, va_shards, TARGETS, out)
    assert skipped == val.skipped and n == sum(len(v.timestamps_us) for v in val.videos)
    want = predictions_frame(val.videos, ref.predict(val.videos), TARGETS)
    pd.testing.assert_frame_equal(pd.read_parquet(out), want)
    assert pq.ParquetFile(out).num_row_groups == len(val.videos)


def test_shuffled_control_streams_the_features(tmp_path):
    path, labels, shards = _split(tmp_path, "train", 8, 9)
    streamed = shuffled_labels(open_split(path, shards, TARGETS).videos, seed=3)
    held = shuffled_labels(load_split(labels, shards, TARGETS).videos, seed=3)
    _same_videos(list(streamed), list(held))
