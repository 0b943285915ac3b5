"""The result tree: the one place that says where each file the workflow writes or reads under
``results_dir`` lives. The rules (``L = Layout(config["results_dir"])`` in rules/common.smk) and
the benchmarks in bench/ build their paths here instead of joining them by hand. What lies inside a
decoded shard's folder is eevflow/decoded_shard.py's.

    {results_dir}/
      labels/{split}.parquet                         labels, test_ground_truth
             test_truth.parquet
      manifest/{split}/shard-{shard}.parquet         download_check (one per split and shard)
               {split}.parquet                       merge_manifest (the split's shards, merged)
               report.json, report.md                dataset_report
      decoded/{split}/shard-{shard}/                 decode (its contents: eevflow/decoded_shard.py)
      clips/{split}/shard-{shard}/                   decode_clips (grid frames: eevflow/clips.py)
      features/{extractor}/{split}/shard-{shard}.parquet   extract
      models/{variant}/model.pt, training.json       train
                       tensorboard/                  train (TensorBoard event files)
                       train_state.pt                (while training: the resumable state)
      predictions/{model}/{split}.parquet            predict (variants), ensemble (ensembles)
                  {ensemble}/weights.json            ensemble
                  {sweep}/sweep.json                 select_sweep (points: models/{sweep}/...)
      scores/scores.csv, scores.md, unscorable.json  score
      submission/{model}.csv, {model}.fill.json      submission
      report/pearson.png, training.png, curves/      report_figures, report_curves
             scores.html, dataset.html, config.*      report_pages, report_config
      logs/{rule}[/{part}...][/shard-{shard}].log    every rule
      benchmarks/{rule}[/{part}...][/shard-{shard}].tsv

Each argument goes into the path as given, so a concrete value names one file and a Snakemake
wildcard names a pattern: ``Layout("results").features("{extractor}", "{split}", "{shard}")`` is
``"results/features/{extractor}/{split}/shard-{shard}.parquet"``. Paths are plain strings, joined
with "/" onto ``results_dir`` as written (no normalisation), as the rules name their files.
"""

from __future__ import annotations


class Layout:
    """Paths under one results directory; see the module docstring for the tree."""

    __slots__ = ("root",)

    def __init__(self, results_dir) -> None:
        self.root = str(results_dir)

    def __repr__(self) -> str:
        return f"Layout({self.root!r})"

    def _path(self, *parts: str) -> str:
        return "/".join((self.root, *parts))

    @staticmethod
    def shard_name(shard: str) -> str:
        """A shard's name in the tree (``shard-000``; the shard is already zero-padded)."""
        return f"shard-{shard}"

    # labels and manifests
    def labels(self, split: str) -> str:
        return self._path("labels", f"{split}.parquet")

    def label_curve(self) -> str:
        """The training set's mean label curve (``submission.fill: mean_curve``)."""
        return self._path("labels", "train_mean_curve.parquet")

    def test_truth(self) -> str:
        return self._path("labels", "test_truth.parquet")

    def test_oracle(self) -> str:
        """The test split's noise-free label signal (``data.test_oracle``), parsed."""
        return self._path("labels", "test_oracle.parquet")

    def manifest(self, split: str) -> str:
        """The split's manifest: every label-file video's row, in label-file order."""
        return self._path("manifest", f"{split}.parquet")

    def manifest_shard(self, split: str, shard: str) -> str:
        """The rows of one shard's videos, as its download_check job wrote them."""
        return self._path("manifest", split, f"{self.shard_name(shard)}.parquet")

    def dataset_report(self, ext: str) -> str:
        """``ext``: json or md."""
        return self._path("manifest", f"report.{ext}")

    # decoded media and embeddings
    def decoded(self, split: str, shard: str) -> str:
        """The decoded shard's directory."""
        return self._path("decoded", split, self.shard_name(shard))

    def clips(self, split: str, shard: str) -> str:
        """The clip shard's directory: grid frames at clips.fps (eevflow/clips.py)."""
        return self._path("clips", split, self.shard_name(shard))

    def features(self, extractor: str, split: str, shard: str) -> str:
        return self._path("features", extractor, split, f"{self.shard_name(shard)}.parquet")

    # models, predictions, ensembles
    def model(self, variant: str) -> str:
        return self._path("models", variant, "model.pt")

    def history(self, variant: str) -> str:
        return self._path("models", variant, "training.json")

    def tensorboard(self, variant: str) -> str:
        """The training's TensorBoard event files (a folder: eevflow.train_events)."""
        return self._path("models", variant, "tensorboard")

    def train_state(self, variant: str) -> str:
        """The resumable state of a running train job (not an output: a restarted job finds it;
        removed when training ends)."""
        return self._path("models", variant, "train_state.pt")

    def predictions(self, model: str, split: str) -> str:
        """``model``: a variant or an ensemble."""
        return self._path("predictions", model, f"{split}.parquet")

    def weights(self, ensemble: str) -> str:
        return self._path("predictions", ensemble, "weights.json")

    def sweep_table(self, sweep: str) -> str:
        """A swept variant's points, their validation M_rho and the one kept."""
        return self._path("predictions", sweep, "sweep.json")

    # scores and submissions
    def new_video(self, model: str, video: str, ext: str) -> str:
        """A new video's predictions with one model (``predict_videos``): ``csv`` or ``png``."""
        return self._path("new_videos", model, f"{video}.{ext}")

    def scores(self, ext: str) -> str:
        """``ext``: csv or md."""
        return self._path("scores", f"scores.{ext}")

    def unscorable(self) -> str:
        return self._path("scores", "unscorable.json")

    def submission(self, model: str) -> str:
        return self._path("submission", f"{model}.csv")

    def fill_report(self, model: str) -> str:
        return self._path("submission", f"{model}.fill.json")

    # the HTML report's figures and pages (rules/report.smk, `snakemake --report`)
    def report_file(self, name: str) -> str:
        """``report/<name>``: pearson.png, training.png, curves/ (one PNG per video),
        scores.html, dataset.html, config.yaml, config.html."""
        return self._path("report", name)

    # logs and benchmarks
    def log(self, rule: str, *parts: str, shard: str | None = None) -> str:
        """``logs/<rule>/<part>/.../[shard-<shard>].log``; with no parts and no shard,
        ``logs/<rule>.log``."""
        return self._job_file("logs", ".log", rule, parts, shard)

    def benchmark(self, rule: str, *parts: str, shard: str | None = None) -> str:
        """As :meth:`log`, under ``benchmarks/``, ending in ``.tsv``."""
        return self._job_file("benchmarks", ".tsv", rule, parts, shard)

    def _job_file(self, folder, suffix, rule, parts, shard) -> str:
        names = (rule, *parts, *([] if shard is None else [self.shard_name(shard)]))
        return self._path(folder, *names) + suffix
