# Config validation, paths and input functions shared by the rule files.
import functools
import os
import re
import sys

# The eevflow package lives beside the Snakefile (job scripts find it through _paths.py).
sys.path.insert(0, os.path.dirname(os.path.abspath(workflow.main_snakefile)))

import numpy as np
import pandas as pd
import yaml
from snakemake.exceptions import WorkflowError

from eevflow import config as eevconfig
from eevflow import resources as jobsize
from eevflow.resources import retried
from eevflow.decoded_shard import decoded_rows
from eevflow.features.options import backend_options
from eevflow.models.options import family_options, model_type
from eevflow.fingerprint import code_fingerprint
from eevflow.ids import InvalidVideoId, folder_videos, videos_by_id
from eevflow.ids import video_path as safe_video_path
from eevflow.labels import read_video_ids
from eevflow.layout import Layout
from eevflow.manifest import find_video, shard_ids, usable_statuses
from eevflow.shards import shard_of
from eevflow.subtitles import find_subtitles

config = eevconfig.validate_config(
    config, workflow.source_path("../schemas/config.schema.yaml")
)

L = Layout(config["results_dir"])
SPLITS = eevconfig.SPLITS
PRED_SPLITS = ("val", "test")
# sweeps (eevflow/sweeps.py): each point is a trainable variant "<variant>/<its values>"; the
# swept variant itself is the point with the best validation M_rho (rule select_sweep)
TRAINABLE, SWEEPS = eevconfig.expand_sweeps(config)
# what train and predict run: plain variants and sweep points
VARIANTS = list(TRAINABLE)
SWEPT = list(SWEEPS)
PLAIN = [v for v in config["variants"] if v not in SWEEPS]
# the settings each scored model is described by (a swept variant: its own, without the sweep)
REPORTED = {
    **TRAINABLE,
    **{
        s: {k: v for k, v in config["variants"][s].items() if k != "sweep"}
        for s in SWEPT
    },
}
ENSEMBLES = list(config["ensembles"])
EXTRACTORS = list(config["extractors"])
N_SHARDS = config["n_shards"]
SHARDS = [f"{i:03d}" for i in range(N_SHARDS)]
DEMO = config["demo"]["enabled"]
HAS_TEST_TRUTH = bool(config["data"].get("test_ground_truth"))
# the noise-free test signal (the demo's): scored as the report's oracle row, the ceiling
HAS_ORACLE = HAS_TEST_TRUTH and bool(config["data"].get("test_oracle"))
VIDEO_LIST = config["data"]["video_list"]
USABLE = usable_statuses(config["probe"]["no_audio"], config["probe"]["short_audio"])
ENV = "../envs/eevflow.yaml"


wildcard_constraints:
    split="train|val|test",
    pred_split="val|test",
    video=r"[A-Za-z0-9_][A-Za-z0-9_.-]*",
    shard=r"\d{3}",
    extractor="|".join(EXTRACTORS),
    variant="|".join(map(re.escape, VARIANTS)),
    sweep="|".join(SWEPT) or "(?!)",
    ensemble="|".join(ENSEMBLES) or "(?!)",  # no ensembles: a pattern that matches nothing
    model="|".join(PLAIN + SWEPT + ENSEMBLES),


# The package modules each rule's job runs (what they import at module level is followed): their
# code fingerprint is a param, so editing them reruns exactly these jobs (eevflow/fingerprint.py).
CODE = {
    "demo_data": ("eevflow.demo",),
    "labels": ("eevflow.labels",),
    "download_check": ("eevflow.manifest",),
    "merge_manifest": ("eevflow.manifest",),
    "dataset_report": ("eevflow.manifest",),
    "decode": ("eevflow.decoded_shard",),
    "decode_clips": ("eevflow.clips",),
    "train": ("eevflow.train_job",),
    "predict": ("eevflow.inference",),
    "ensemble": ("eevflow.ensemble", "eevflow.report", "eevflow.past_end"),
    "score": ("eevflow.report", "eevflow.past_end"),
    "submission": ("eevflow.submission",),
    "label_curve": ("eevflow.label_prior",),
    "select_sweep": ("eevflow.sweeps", "eevflow.inference"),
    # the HTML report's figures and pages (rules/report.smk)
    "report_figures": ("eevflow.plots",),
    "report_curves": ("eevflow.plots", "eevflow.decoded_shard"),
    "report_pages": ("eevflow.report_pages",),
    "predict_video": ("eevflow.new_videos", "eevflow.plots"),
}


def code(rule):
    return code_fingerprint(*CODE[rule])


def model_code(rule):
    """train / predict: the rule's modules and the variant's model family's own module."""

    def get(wildcards):
        family = model_type(TRAINABLE[wildcards.variant].get("model"))
        return code_fingerprint(*CODE[rule], family_options(family).module)

    return get


def extract_code(wildcards):
    """The registry, the shard writer and reader, and the extractor's own backend module."""
    backend = config["extractors"][wildcards.extractor]["backend"]
    return code_fingerprint(
        "eevflow.features",
        "eevflow.shards",
        "eevflow.decoded_shard",
        backend_options(backend).module,
    )


def video_path(video_id):
    return safe_video_path(config["data"]["videos_dir"], video_id)


@functools.cache
def listed_ids(split):
    """Video IDs of a split: the demo's are known in advance, others come from the label CSV."""
    if DEMO:
        from eevflow.demo import video_ids

        kind = config["demo"]["kind"]
        return tuple(video_ids(kind, split, config["demo"][f"n_{split}"]))
    path = config["data"]["labels"][split]
    return tuple(read_video_ids(path)) if os.path.exists(path) else ()


def demo_oracle_output():
    """The demo rule's noise-free test signal output, when the config names one."""
    path = config["data"].get("test_oracle")
    return {"oracle": path} if path else {}


@functools.cache
def listed_shard_ids(split, shard):
    """The split's video IDs in one shard (eevflow.shards.shard_of, as decode and extract shard
    them): the videos one download_check job checks."""
    return tuple(shard_ids(listed_ids(split), int(shard), N_SHARDS))


def download_check_videos(wildcards):
    """The shard's video files that exist (or that the demo rule will write). IDs that cannot
    name a file are left to the job, which records them as invalid_id."""
    ids = listed_shard_ids(wildcards.split, wildcards.shard)
    if DEMO:
        return [video_path(v) for v in ids]
    found = []
    for v in ids:
        try:
            path = find_video(
                config["data"]["videos_dir"], v, config["data"]["video_extensions"]
            )
        except InvalidVideoId:
            continue
        if path:
            found.append(path)
    return found


def download_check_resource(key):
    """From the shard's number of videos (and the download settings: with downloading on, the
    shared rate limit spaces the starts of all parallel jobs)."""
    return lambda wc: jobsize.download_check_resources(
        len(listed_shard_ids(wc.split, wc.shard)),
        download=config["download"].get("enabled", False),
        min_interval_s=config["download"].get("min_interval_s") or 0.0,
        parallel_jobs=N_SHARDS,
    )[key]


@functools.lru_cache(maxsize=256)
def _read_manifest(path, mtime_ns):
    """A manifest, read once per version of the file (input functions and resources ask for
    it once per shard)."""
    df = pd.read_parquet(path)
    df.index = df["video_id"].to_numpy()
    return df


def read_manifest(path):
    return _read_manifest(path, os.stat(path).st_mtime_ns)


def manifest_rows(split, shard=None):
    """The download-check rows of one shard of the split (its checkpoint's manifest: a decode job
    waits for its own shard's download_check only); without a shard, of every shard (all of
    the split's checkpoints), in shard order."""
    if shard is None:
        return pd.concat([manifest_rows(split, s) for s in SHARDS])
    return read_manifest(
        checkpoints.download_check.get(split=split, shard=shard).output.manifest
    )


def shard_rows(manifest, shard):
    """The manifest rows that go on to decoding in one shard: status ok, no_audio unless
    probe.no_audio is exclude, audio_short unless probe.short_audio is exclude; in manifest
    order."""
    in_shard = np.array(
        [shard_of(v, N_SHARDS) == int(shard) for v in manifest["video_id"]], dtype=bool
    )  # (a shard may hold no video: an empty mask, not an empty list)
    return manifest[manifest["status"].isin(USABLE).to_numpy(dtype=bool) & in_shard]


def decode_inputs(wildcards):
    """The files download_check probed (or downloaded) for the shard's videos."""
    rows = manifest_rows(wildcards.split, wildcards.shard)
    return shard_rows(rows, wildcards.shard)["path"].tolist()


# probe.labels_past_end: drop: train, ensemble and score read the manifests to leave the label rows
# after each video's end out of the loss and the scores (only then: no extra dependency otherwise).
PAST_END = {
    "policy": config["probe"]["labels_past_end"],
    "tolerance_s": config["probe"]["labels_past_end_tolerance_s"],
}


# the scoring rules of validation M_rho (model selection); scoring.unscorable does not apply
TRAIN_SCORING = {
    k: config["scoring"][k] for k in ("constant_policy", "ignore_undetected")
}


def past_end_manifests(*splits):
    if PAST_END["policy"] != "drop":
        return []
    return [L.manifest(s) for s in splits]


def decoded_shard(split, shard):
    return L.decoded(split, shard)


def shard_paths(extractor, split):
    return [L.features(extractor, split, s) for s in SHARDS]


def shard_inputs(*splits):
    """Named inputs of a variant's job: ``<split>__<extractor>`` -> that extractor's shards of the
    split (``shards__<extractor>`` for the prediction split), so that scripts read the extractor
    and split from the input's name, never from a path."""

    def get(wildcards):
        feats = TRAINABLE[wildcards.variant]["features"]
        if not splits:  # predict: the wildcard's split
            return {f"shards__{f}": shard_paths(f, wildcards.pred_split) for f in feats}
        return {f"{s}__{f}": shard_paths(f, s) for s in splits for f in feats}

    return get


def init_models(wildcards):
    """omg model.init_from (two-stage training): ``init__<branch>`` -> the model file of the
    variant the branch starts from, so that it is trained first and retraining it retrains
    this variant."""
    model = eevconfig.variant_settings(config, wildcards.variant, TRAINABLE)["model"]
    if model["type"] != "omg":
        return {}
    return {f"init__{b}": L.model(v) for b, v in sorted(model["init_from"].items())}


def variant_settings(wildcards):
    return eevconfig.variant_settings(config, wildcards.variant, TRAINABLE)


def sweep_inputs(wildcards):
    """Named inputs of select_sweep: ``history__<i>`` and ``model__<i>`` of its i-th point, the
    val and test labels and the shards its features read (``<split>__<extractor>``; a sweep
    varies model and training options only, so every point reads the same features)."""
    points = list(SWEEPS[wildcards.sweep])
    feats = TRAINABLE[points[0]]["features"]
    return {
        **{f"history__{i}": L.history(p) for i, p in enumerate(points)},
        **{f"model__{i}": L.model(p) for i, p in enumerate(points)},
        **{f"labels__{s}": L.labels(s) for s in PRED_SPLITS},
        **{f"{s}__{f}": shard_paths(f, s) for s in PRED_SPLITS for f in feats},
    }


def sweep_code(wildcards):
    """select_sweep predicts with its kept point: the sweep's modules and its points' families'."""
    families = {model_type(TRAINABLE[p].get("model")) for p in SWEEPS[wildcards.sweep]}
    return code_fingerprint(
        *CODE["select_sweep"], *sorted(family_options(f).module for f in families)
    )


def ensemble_inputs(wildcards):
    members = config["ensembles"][wildcards.ensemble]["members"]
    return {
        f"{split}_{m}": L.predictions(m, split)
        for m in members
        for split in PRED_SPLITS
    }


def score_splits():
    return ["val", "test"] if HAS_TEST_TRUTH else ["val"]


def manifest_inputs():
    """``manifest__<split>`` -> the split's manifest."""
    return {f"manifest__{s}": L.manifest(s) for s in SPLITS}


def score_inputs(wildcards):
    """Named inputs of the score job: ``pred__<model>__<split>``, ``truth__<split>``,
    ``manifest__<split>``, ``weights__<ensemble>``."""
    truth = {"val": L.labels("val"), "test": L.test_truth()}
    return {
        **{
            f"pred__{m}__{s}": L.predictions(m, s)
            for m in all_models()
            for s in score_splits()
        },
        **{f"truth__{s}": truth[s] for s in score_splits()},
        **manifest_inputs(),
        **{f"weights__{e}": L.weights(e) for e in ENSEMBLES},
        **{f"sweep__{s}": L.sweep_table(s) for s in SWEPT},
        **({"oracle": L.test_oracle()} if HAS_ORACLE else {}),
    }


def all_models():
    """What is scored and submitted: plain variants, swept variants (their chosen point) and
    ensembles (sweep points are listed in their sweep's table)."""
    return PLAIN + SWEPT + ENSEMBLES


def all_targets():
    return [
        L.scores("csv"),
        L.scores("md"),
        L.dataset_report("md"),
        *expand(L.submission("{model}"), model=all_models()),
        # the HTML report's (rules/report.smk): `snakemake --report` follows them
        *[L.report_file(f) for f in ("pearson.png", "training.png", "curves")],
        *[L.report_file(f) for f in ("scores.html", "dataset.html", "config.yaml")],
        L.report_file("config.html"),
    ]


# The HTML report's (rules/report.smk) ---------------------------------------------------------
# the split the curves show: test when its truth is given (the score table ranks models on it)
CURVE_SPLIT = "test" if HAS_TEST_TRUTH else "val"
CONFIG_YAML = yaml.safe_dump(config, sort_keys=True)


def curve_inputs(wildcards):
    """``pred__<model>``: every scored model's predictions of the split (the best one is known
    once scored), ``truth`` and, for the thumbnails, the split's decoded shards."""
    truth = L.test_truth() if HAS_TEST_TRUTH else L.labels("val")
    decoded = (
        {"decoded": [L.decoded(CURVE_SPLIT, s) for s in SHARDS]}
        if config["report"]["thumbnails"]
        else {}
    )
    return {
        **{f"pred__{m}": L.predictions(m, CURVE_SPLIT) for m in all_models()},
        "truth": truth,
        **decoded,
    }


# Resources from the size of each job (eevflow/resources.py; figures in BENCHMARKS.md). Decode
# jobs exist before download_check has run (their shard is known, not their videos), so their
# sizes come from the shard's manifest file when it is there, and a default until then.
def _shard_durations(split, shard):
    path = L.manifest_shard(split, shard)
    if not os.path.exists(path):
        return [float("nan")]
    return shard_rows(read_manifest(path), shard)["duration_s"].astype(float).tolist()


def decode_resource(key):
    return lambda wc: jobsize.decode_resources(_shard_durations(wc.split, wc.shard))[
        key
    ]


def decode_videos(wildcards):
    """The shard's videos as video ID -> the file download_check probed (the job reads IDs and
    files from this one mapping; its input lists the same files for the dependency)."""
    rows = shard_rows(manifest_rows(wildcards.split, wildcards.shard), wildcards.shard)
    return dict(zip(rows["video_id"], rows["path"]))


def clip_durations(wildcards):
    """decode_clips: the shard's videos as video ID -> probed duration (the grid's extent)."""
    rows = shard_rows(manifest_rows(wildcards.split, wildcards.shard), wildcards.shard)
    return dict(zip(rows["video_id"], rows["duration_s"].astype(float)))


def extract_gpu(wildcards):
    """1 when the extractor's backend runs a network (its options class says), 0 for log-mel."""
    backend = config["extractors"][wildcards.extractor]["backend"]
    return int(backend_options(backend).gpu)


def extract_resource(key):
    def get(wc, input):
        opts = config["extractors"][wc.extractor]
        # the shard's label rows once it is decoded (its index.json); until then None, the default
        return jobsize.extract_resources(decoded_rows(input.decoded), opts)[key]

    return get


def extract_videos(wildcards):
    """decode.store none: the extract job decodes the shard's videos again, so they are its
    inputs; other stores read the decoded shard only."""
    return decode_inputs(wildcards) if config["decode"]["store"] == "none" else []


def _shard_rows(paths):
    """(longest video's rows, all rows) of shards (footers only), or (None, None) when one is
    not there yet."""
    from eevflow.shards import video_rows

    found = video_rows(paths)
    return found if found is not None else (None, None)


def train_resource(key):
    """The job streams its videos: memory from the longest video's rows x dims (train and val
    shards), time from the training rows x epochs (eevflow/resources.py)."""

    def get(wc, input):
        settings = eevconfig.variant_settings(config, wc.variant, TRAINABLE)
        feats = settings["features"]
        dims = [jobsize.extractor_dim(config["extractors"][f]) for f in feats]
        paths = lambda split: [p for f in feats for p in input[f"{split}__{f}"]]
        longest, _ = _shard_rows(paths("train") + paths("val"))
        _, train_rows = _shard_rows([p for p in input[f"train__{feats[0]}"]])
        return jobsize.train_resources(
            longest,
            train_rows,
            dims,
            settings["training"]["epochs"],
            settings["model"],
        )[key]

    return get


def predict_resource(key, sweep=False):
    """predict (``sweep=False``: one variant, inputs ``shards__<f>``) and select_sweep (its
    points' largest network, inputs ``<split>__<f>`` of val and test): memory from the longest
    video's rows x dims, time from the rows predicted (eevflow/resources.py)."""

    def get(wc, input):
        names = list(SWEEPS[wc.sweep]) if sweep else [wc.variant]
        feats = TRAINABLE[names[0]]["features"]
        dims = [jobsize.extractor_dim(config["extractors"][f]) for f in feats]
        if sweep:
            paths = [p for s in PRED_SPLITS for f in feats for p in input[f"{s}__{f}"]]
            _, total = _shard_rows(
                [p for s in PRED_SPLITS for p in input[f"{s}__{feats[0]}"]]
            )
        else:
            paths = [p for f in feats for p in input[f"shards__{f}"]]
            _, total = _shard_rows(list(input[f"shards__{feats[0]}"]))
        longest, _ = _shard_rows(paths)
        asks = [
            jobsize.predict_resources(
                longest,
                total,
                dims,
                eevconfig.variant_settings(config, n, TRAINABLE)["model"],
            )
            for n in names
        ]
        return max(a[key] for a in asks)

    return get


# ---- reusing checkpoints and features (README: "Reusing checkpoints and features") ----
# pretrained: PATH variants: their model file is imported (rule import_pretrained), never trained
PRETRAINED = [v for v in PLAIN if config["variants"][v].get("pretrained")]
TRAINED = [v for v in VARIANTS if v not in PRETRAINED]


def pretrained_code(wildcards):
    """import_pretrained: its module and the variant's model family's (it builds the model)."""
    family = model_type(TRAINABLE[wildcards.variant].get("model"))
    return code_fingerprint("eevflow.pretrained", family_options(family).module)


def variant_extractors(wildcards):
    """extractor -> [dim, modality] of the variant's features (what a checkpoint must fit)."""
    return {
        f: [
            jobsize.extractor_dim(config["extractors"][f]),
            config["extractors"][f]["modality"],
        ]
        for f in TRAINABLE[wildcards.variant]["features"]
    }


def extract_inputs(wildcards):
    """The extract job's inputs. ``decoded``: the decoded shard, and ``videos``: the shard's
    videos when decode.store is none. A precomputed extractor (eevflow.features.precomputed)
    decodes nothing: ``decoded`` is the shard's download-check manifest (its label-file videos,
    whatever their media's status), ``labels`` the split's label rows and ``videos`` the
    feature files of the shard's videos that exist (a changed file re-extracts the shard).
    A subtitles extractor (eevflow.features.text_subtitles) has the same inputs, ``videos``
    being the shard's videos' subtitle files (eevflow.subtitles.find_subtitles). ``weights``: the
    backend's local weights file where its options name one (``checkpoint``).
    """
    opts = config["extractors"][wildcards.extractor]
    cls = backend_options(opts["backend"])
    parsed = cls.from_dict(opts)
    # a local weights file (timm_image, face_crop's inception_resnet_v1): new weights re-extract
    weights = (
        {"weights": parsed.checkpoint} if getattr(parsed, "checkpoint", None) else {}
    )
    # clips: the label rows from the decoded shard, the frames from the clip shard
    if cls.input_stream == "clips":
        return {
            "decoded": decoded_shard(wildcards.split, wildcards.shard),
            "clips": L.clips(wildcards.split, wildcards.shard),
            "videos": extract_videos(wildcards),
        }
    if cls.reads_media:
        return {
            "decoded": decoded_shard(wildcards.split, wildcards.shard),
            "videos": extract_videos(wildcards),
            **weights,
        }
    if cls.input_stream == "subtitles":  # eevflow.subtitles: the shard's subtitle files
        folder = parsed.dir or config["data"]["videos_dir"]
        subs = []
        for v in listed_shard_ids(wildcards.split, wildcards.shard):
            try:
                path = find_subtitles(folder, v, parsed.languages)
            except InvalidVideoId:
                continue  # the job records it as skipped
            subs += [path] if path else []
        return {
            "decoded": L.manifest_shard(wildcards.split, wildcards.shard),
            "labels": L.labels(wildcards.split),
            "videos": subs,
        }
    files = []
    for v in listed_shard_ids(wildcards.split, wildcards.shard):
        try:
            path = parsed.file_for(v)
        except InvalidVideoId:
            continue  # the job records it as skipped
        if os.path.isfile(path):
            files.append(path)
    return {
        "decoded": L.manifest_shard(wildcards.split, wildcards.shard),
        "labels": L.labels(wildcards.split),
        "videos": files,
    }


# New videos without labels (config `predict:`, rules/new_videos.smk).


def new_videos():
    """Video ID -> file of ``predict.videos`` (a folder's files with a data.video_extensions
    suffix, sorted, or the files listed; eevflow.ids.videos_by_id)."""
    videos = config["predict"]["videos"]
    if videos is None:
        return {}
    if isinstance(videos, str) and os.path.isdir(videos):
        files = folder_videos(videos, config["data"]["video_extensions"])
    else:
        files = [videos] if isinstance(videos, str) else list(videos)
    try:
        return videos_by_id(files)
    except InvalidVideoId as exc:
        raise ValueError(f"predict.videos: {exc}") from None


NEW_VIDEOS = new_videos()
PREDICT_MODELS = config["predict"]["models"] or all_models()


def model_file(model):
    """The file that names a model (eevflow.new_videos.model_files)."""
    if model in ENSEMBLES:
        return L.weights(model)
    if model in SWEPT:
        return L.sweep_table(model)
    return L.model(model)


def model_members(model):
    """The model and, for an ensemble, its members."""
    return [model, *config["ensembles"].get(model, {}).get("members", {})]


def model_inputs(wildcards):
    """The model's file and every model file it leads to (an ensemble's members, a sweep's
    points), so that retraining any of them predicts the video again."""
    files = []
    for m in model_members(wildcards.model):
        files.append(model_file(m))
        files += [L.model(p) for p in SWEEPS.get(m, {})]
    return sorted(set(files))


def new_video_subtitles(wildcards):
    """predict_video: the new video's subtitle files read by the model's subtitle features (the
    extractor's dir, else the video's own folder; eevflow.new_videos), so that a changed or new
    subtitle file predicts the video again."""
    video = NEW_VIDEOS[wildcards.video]
    feats = set()
    for m in model_members(wildcards.model):
        for v in [m, *SWEEPS.get(m, {})]:
            feats.update(TRAINABLE[v]["features"] if v in TRAINABLE else [])
    files = []
    for f in sorted(feats):
        cls = backend_options(config["extractors"][f]["backend"])
        if cls.input_stream != "subtitles":
            continue
        parsed = cls.from_dict(config["extractors"][f])
        folder = parsed.dir or os.path.dirname(video)
        try:
            path = find_subtitles(folder, wildcards.video, parsed.languages)
        except InvalidVideoId:
            continue  # the job says why
        files += [path] if path else []
    return sorted(set(files))


def predict_videos_inputs(wildcards):
    if not NEW_VIDEOS:
        raise WorkflowError(
            "predict_videos: no videos to predict: set predict.videos, e.g. "
            "snakemake predict_videos --config 'predict={videos: path/to/folder}'"
        )
    return expand(
        L.new_video("{model}", "{video}", "{ext}"),
        model=PREDICT_MODELS,
        video=list(NEW_VIDEOS),
        ext=["csv", "png"],
    )
