"""The options of every model family (a variant's ``model:``, the family picked by ``model.type``)
and of training (a variant's ``training:``), one typed class each.

The schema's ``definitions.model_<family>`` and ``definitions.training`` are generated from these
classes (``scripts/gen_schema.py``), and their defaults are the paper's (configs/eev_paper.yaml
states them again so that the reproduction does not depend on defaults). No torch import here:
the Snakefile reads this module when it parses the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from eevflow.options import Options, option


@dataclass
class FamilyOptions(Options):
    """Base of the model-family option classes: ``family`` (the ``model.type`` value) and the
    module that implements it (its code fingerprint) are class facts."""

    family: ClassVar[str]
    module: ClassVar[str]
    EXTRA_KEYS: ClassVar[tuple[str, ...]] = ("type",)


@dataclass
class TCNOptions(FamilyOptions):
    """The winner's temporal convolution network with positional encoding (causal, residual)."""

    family: ClassVar[str] = "tcn"
    module: ClassVar[str] = "eevflow.models.tcn"

    channels: int = option(512, "width (channels) of every TCN convolution", minimum=1)
    kernel_size: int = option(3, "kernel size of the causal convolutions (in label steps)",
                              minimum=2)
    dilations: list[int] = option([1, 2, 4, 8], "dilation of each temporal block of a stack, in "
                                  "order", minItems=1, items={"minimum": 1})
    stacks: int = option(1, "how many times the blocks of `dilations` are repeated", minimum=1)
    dropout: float = option(0.3, "dropout probability after each convolution", minimum=0,
                            maximum=1)
    weight_norm: bool = option(False, "apply weight normalisation to the convolutions")
    positional_encoding: Literal["timestamp", "timestamp_tanh", "sinusoidal", "none"] = option(
        "timestamp", "channel(s) added to the features: the row's timestamp in seconds (the "
        "authors'; it grows with the video, 600 at 10 minutes), tanh(seconds / pe_scale_s) (one "
        "channel in [0, 1] whatever the length; it saturates after about 5 x pe_scale_s), a "
        "sinusoidal encoding (pe_dim channels), or none"
    )
    pe_scale_s: float = option(60.0, "timestamp_tanh: seconds at which the channel reaches "
                               "tanh(1) = 0.76", exclusiveMinimum=0)
    input_dropout: float = option(0.0, "dropout on the input features (training only), before "
                                  "the positional channel is added", minimum=0, exclusiveMaximum=1)
    pe_dim: int = option(16, "channels of the sinusoidal positional encoding (even)", minimum=2,
                         multipleOf=2)
    head_hidden: int = option(128, "hidden width of the output head (Linear, ReLU, Linear)",
                              minimum=1)
    init: Literal["pytorch", "normal_0.01"] = option(
        "pytorch", "initial convolution weights: PyTorch's default, or normal(0, 0.01) as in "
        "TPF's and locuslab's init_weights (drawn before weight norm wraps a convolution)"
    )


@dataclass
class LinearOptions(FamilyOptions):
    """The linear baseline: closed-form ridge over each row's features and their causal context,
    the penalty chosen on validation M_rho (training's optimiser options do not apply)."""

    family: ClassVar[str] = "linear"
    module: ClassVar[str] = "eevflow.models.linear"

    lags_s: list[float] = option(
        [1.0], "lagged copies: each row also gets the features of the last row at least this "
        "many seconds earlier (the first row where there is none)", items={"exclusiveMinimum": 0}
    )
    past_means_s: list[float] = option(
        [2.0], "past means: each row also gets the mean features of the rows in the last this "
        "many seconds (itself included)", items={"exclusiveMinimum": 0}
    )
    alphas: list[float] = option(
        [0.001, 0.01, 0.1, 1.0, 10.0, 100.0], "ridge penalties tried, per training row (the "
        "penalty is alpha x the number of training rows); the best on validation M_rho is kept",
        minItems=1, items={"exclusiveMinimum": 0}
    )


@dataclass
class BiGRUOptions(FamilyOptions):
    """The 2nd place system (Lin et al.): one 2-layer bidirectional GRU per feature stream, their
    outputs concatenated, context gating, a linear layer to the targets, context gating, sigmoid;
    run on rows sampled at ``sample_hz`` in windows of ``window_s`` and interpolated linearly back
    to every label row."""

    family: ClassVar[str] = "bigru"
    module: ClassVar[str] = "eevflow.models.bigru"

    layers: int = option(2, "GRU layers per stream", minimum=1)
    hidden_visual: int = option(512, "GRU width (each direction) of a visual stream", minimum=1)
    hidden_audio: int = option(128, "GRU width (each direction) of an audio stream", minimum=1)
    dropout: float = option(0.3, "dropout between the GRU layers", minimum=0, exclusiveMaximum=1)
    sample_hz: float | None = option(
        1.0, "rows fed to the GRUs: the row nearest each multiple of 1 / sample_hz seconds, the "
        "outputs interpolated linearly to every row (the authors' 1 Hz); null: every row",
        exclusiveMinimum=0)
    window_s: float | None = option(
        60.0, "the GRUs run over consecutive windows of this many seconds (the authors' 60-step "
        "clips at 1 Hz); null: over the whole video", exclusiveMinimum=0)
    random_offset: bool = option(
        True, "training only: the window boundaries move by a random fraction of window_s at "
        "every forward pass, so the clips a video is cut into differ from epoch to epoch")
    eval_rows: Literal["sampled", "every"] = option(
        "sampled", "validation and prediction: sampled (the training's sample_hz, then "
        "interpolation: the authors' submission) or every (every 6 Hz row fed, no "
        "interpolation: the first two rows of their Table 1)")
    eval_window_s: float | None = option(
        None, "validation and prediction: the windows' length in seconds (their Table 1: 10 s "
        "or 60 s at 6 Hz); null: window_s", exclusiveMinimum=0)


@dataclass
class MGNOptions(FamilyOptions):
    """The 3rd place system (Yan et al., MGN-MA): every row an independent sample; its row-level
    streams and optional video-level streams projected to a common size, fused by modal
    attention, a mixture of experts to the targets; trained on shuffled batches of rows."""

    family: ClassVar[str] = "mgn"
    module: ClassVar[str] = "eevflow.models.mgn"

    hidden: int = option(1024, "every stream (row- and video-level) is projected to this size "
                         "(Linear, ReLU) before the fusion (the paper's 1024-D multi-modal "
                         "feature)", minimum=1)
    fusion: Literal["attention", "concat"] = option(
        "attention", "attention: the modal attention fusion of Eq. 1 (a softmax over the streams "
        "of a learned score per stream, each stream scaled by its weight, concatenated); concat: "
        "plain concatenation (the paper's Table 2 baseline)")
    modality_dropout: float = option(
        0.1, "training only: each projected stream of a row is replaced by zeros with this "
        "probability, never every stream of a row (the paper's modal dropout; it gives no rate)",
        minimum=0, exclusiveMaximum=1)
    head: Literal["moe", "mlp"] = option(
        "moe", "classifier: moe, a mixture of experts (the paper's; YouTube-8M's MoeModel with "
        "batch norm before the gate's softmax and the experts' activation), or mlp (Linear, "
        "batch norm, ReLU, Linear; the paper's Table 2 baseline)")
    experts: int = option(3, "moe: experts per target (the paper's best: 3)", minimum=1)
    dummy_expert: bool = option(
        True, "moe: the gate also weighs a dummy expert whose output is the target range's "
        "lower bound (0 for [0, 1], as YouTube-8M's MoeModel; 0 when unbounded)")
    mlp_hidden: int = option(1024, "mlp: width of the hidden layer", minimum=1)
    video_level: list[str] = option(
        [], "extractors that also give a video-level stream: one vector per video (pooled over "
        "the rows given to the model), the same for every row of the video", uniqueItems=True)
    video_pool: Literal["mean", "netvlad"] = option(
        "mean", "pooling of a video-level stream: mean, the stream's mean over the video's "
        "rows; netvlad, learned NetVLAD pooling of video_frames uniformly taken rows (the "
        "paper's video-level network, §2.1.3)")
    netvlad_clusters: int = option(8, "netvlad: clusters (its output is clusters x the "
                                   "stream's size, projected to hidden)", minimum=1)
    video_frames: int = option(80, "netvlad: rows taken uniformly over the video (the paper's "
                               "80 uniformly selected frames)", minimum=1)
    batch_rows: int = option(1536, "rows per training batch, each batch one optimiser step (the "
                             "paper's mini-batch size; training.grad_accum does not apply)",
                             minimum=2)
    shuffle_buffer_rows: int = option(
        15360, "training: rows of the shuffle buffer the batches are drawn from at random (as "
        "tf.data's shuffle; the videos are read in a random order, one at a time)", minimum=2)

    def check(self):
        if self.shuffle_buffer_rows < self.batch_rows:
            return [("shuffle_buffer_rows", f"{self.shuffle_buffer_rows} is below batch_rows "
                                            f"({self.batch_rows})")]
        return []


@dataclass
class OMGOptions(FamilyOptions):
    """Peng et al.'s OMG-Emotion network, one prediction per label row over the snippet of
    window_s seconds centred on it: VNet (visual rows sampled one per segment, a bidirectional
    LSTM, temporal mean, FC), ANet (audio rows sampled the same way, two FC layers with dropout,
    averaged), or both joined (their penultimate features concatenated); then FC and the
    target_range activation. The branches follow the modalities of the variant's features."""

    family: ClassVar[str] = "omg"
    module: ClassVar[str] = "eevflow.models.omg"
    BRANCHES: ClassVar[tuple[str, ...]] = ("visual", "audio")
    #: per branch, the options that fix the shapes of its weights (init_from must agree on them)
    SHAPE_OPTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "visual": ("lstm_hidden", "feature_dim"), "audio": ("fc_hidden", "feature_dim")}
    #: label rows per chunk of the forward pass (bounds its memory on long videos)
    CHUNK_ROWS: ClassVar[int] = 1024

    window_s: float = option(
        4.0, "a row's snippet (the paper's utterance): the rows within window_s / 2 seconds "
        "before or after it, fewer at the video's ends", exclusiveMinimum=0)
    n_visual: int = option(
        16, "VNet: visual rows sampled from the snippet, one per equal segment of its rows "
        "(random in the segment in training, its centre in evaluation; the paper's N_V)",
        minimum=1)
    n_audio: int = option(4, "ANet: audio rows sampled from the snippet the same way, their "
                          "penultimate features averaged (the paper's N_A)", minimum=1)
    lstm_hidden: int = option(256, "VNet: width of each direction of the bidirectional LSTM",
                              minimum=1)
    feature_dim: int = option(256, "width of each branch's penultimate features (VNet's FC after "
                              "the temporal mean, ANet's second FC layer)", minimum=1)
    fc_hidden: int = option(512, "ANet: width of its first FC layer", minimum=1)
    dropout: float = option(0.5, "dropout after each hidden FC layer (ReLU, dropout)", minimum=0,
                            exclusiveMaximum=1)
    init_from: dict = option(
        {}, "two-stage training (the paper's joint training): branch (visual, audio) -> the omg "
        "variant of that branch alone whose trained weights the branch starts from (trained "
        "first; retraining it retrains this one); the output layer is always new")
    freeze_branches: bool = option(
        False, "keep the branches taken from init_from fixed (not updated, dropout off) and "
        "train the rest (our reading of the paper's 'with VNet kept the same')")

    def check(self):
        bad = sorted(set(self.init_from) - set(self.BRANCHES))
        if bad:
            return [("init_from", f"unknown branch(es) {bad}; allowed keys: "
                                  f"{sorted(self.BRANCHES)}")]
        for branch, name in self.init_from.items():
            if not isinstance(name, str) or not name:
                return [(f"init_from.{branch}", f"{name!r} is not a variant name")]
        if self.freeze_branches and not self.init_from:
            return [("freeze_branches", "needs init_from (the trained branches to keep fixed)")]
        return []


@dataclass
class TrainingOptions(Options):
    """How a variant is trained (the winner's: SGD, one video per forward pass, 32 accumulated)."""

    epochs: int = option(20, "passes over the training videos", minimum=1)
    loss: Literal["mse", "l1", "bce", "kl", "ccc"] = option(
        "mse", "per-video loss over the trained rows and targets (eevflow.losses): mse, the mean "
        "squared error (the winner's Eq. 4); l1, the mean absolute error (the 2nd place's "
        "element-wise L1); bce, binary cross-entropy on the soft labels (MGN-MA's Eq. 3); kl, "
        "per row KL(targets || predictions), both normalised to distributions over the targets "
        "(the 2nd place's Table 3); ccc, 1 - the concordance correlation coefficient over the "
        "video's rows, averaged over the targets (the 2nd place's Table 3, OMG's joint training). "
        "bce and kl need a bounded target_range (mapped onto [0, 1]) and suit a family with a "
        "bounded output (bigru): predictions outside the range are clamped, without gradient")
    optimizer: Literal["sgd", "adam"] = option("sgd", "optimiser: SGD (the paper's) or Adam")
    lr: float = option(5e-3, "learning rate", exclusiveMinimum=0)
    momentum: float = option(0.0, "SGD momentum (unused by Adam)", minimum=0)
    weight_decay: float = option(0.0, "L2 weight decay of the optimiser", minimum=0)
    grad_accum: int = option(32, "videos per optimiser step (one video per forward pass, "
                             "gradients summed)", minimum=1)
    lr_milestones: list[int] = option(
        [], "step schedule: the learning rate is multiplied by lr_gamma after each of these "
        "epochs (counted from 1; the 2nd place's script: 45 and 80 with 0.5; OMG-Emotion: 7, "
        "14, 21 with 0.1); empty: a constant rate", items={"minimum": 1}, uniqueItems=True)
    lr_gamma: float = option(0.1, "the step schedule's factor", exclusiveMinimum=0, maximum=1)
    grad_clip_norm: float | None = option(
        None, "clip the gradients' total norm at this before each optimiser step (OMG-Emotion: "
        "20); null: no clipping", exclusiveMinimum=0)
    seed: int = option(0, "random seed (weight init, dropout, video order, label shuffling)")
    selection: Literal["best_val", "last", "swa"] = option(
        "best_val", "weights kept for prediction: the epoch with the best validation M_rho, the "
        "last epoch (the 2021 challenge run), or the stochastic weight average (the published "
        "code; needs swa_start)"
    )
    swa_start: int | None = option(
        None, "stochastic weight averaging from this epoch (counted from 0) on; null: none",
        minimum=0
    )
    swa_update: Literal["epoch_end", "epoch_start"] = option(
        "epoch_end", "when the average takes the weights: at the end of each epoch from "
        "swa_start, or at its start (PyTorch Lightning 1.3's callback, the published code: the "
        "last epoch's training is then not in the average)"
    )
    swa_lr: float | None = option(None, "SWALR learning rate once averaging starts; null: lr "
                                  "(PyTorch Lightning's default)", exclusiveMinimum=0)
    swa_anneal_epochs: int = option(10, "epochs SWALR takes to move the learning rate to swa_lr",
                                    minimum=1)
    swa_anneal_strategy: Literal["cos", "linear"] = option("cos", "SWALR's annealing shape")
    target_scale: float = option(
        1.0, "targets multiplied by this in the loss and predictions divided back (the published "
        "code: 10)", exclusiveMinimum=0
    )
    row_dropout: float = option(
        0.0, "augmentation: the probability of row dropout (see row_dropout_mode); 0: none "
        "(the published code: 0.3)", minimum=0, exclusiveMaximum=1
    )
    row_dropout_mode: Literal["video", "row"] = option(
        "video", "video: the published code's TimeDropout, each epoch a video draws r ~ U(0, 1) "
        "and, when r <= row_dropout, loses int(r x its rows) rows at random; row: each row is "
        "left out with probability row_dropout. Either way at least one row stays, and the "
        "others keep their timestamps"
    )
    val_rows: Literal["scoring", "detected", "all"] = option(
        "scoring", "validation (model selection): scoring (every row fed to the model, rows "
        "scored as scoring.ignore_undetected says), detected (undetected rows left out of the "
        "input and the score, the 2021 code) or all (every row fed and scored, the published code)"
    )
    shuffle_labels: bool = option(False, "control: permute the labelled rows across the whole "
                                  "training set")
    standardize: bool = option(True, "z-score the features with the training set's mean and std")
    balance_extractors: bool = option(
        False, "after z-scoring, divide each extractor's block of features by the square root of "
        "its size, so that every extractor brings the same total variance (a 1,280-D visual "
        "embedding no longer outweighs a 64-D audio one); needs standardize")
    device: Literal["auto", "cpu", "cuda"] = option(
        "auto", "torch device: auto (CUDA when available, else CPU), cpu or cuda"
    )
    patience: int | None = option(
        None, "early stopping: stop when validation M_rho has not improved for this many epochs "
        "(the best epoch is kept); null: train every epoch", minimum=1
    )

    def check(self):
        if self.patience is not None and self.selection != "best_val":
            return [("patience", "early stopping needs selection: best_val")]
        if self.balance_extractors and not self.standardize:
            return [("balance_extractors", "needs standardize: true (it scales z-scored blocks)")]
        if self.selection == "swa" and self.swa_start is None:
            return [("selection", "swa needs swa_start (the epochs before averaging starts)")]
        if self.lr_milestones and self.swa_start is not None:
            return [("lr_milestones", "a step schedule and SWA's SWALR would both set the rate; "
                                      "use one")]
        if self.swa_start is not None and self.swa_start >= self.epochs:
            return [("swa_start", f"{self.swa_start} leaves no epoch to average "
                                  f"(epochs: {self.epochs})")]
        return []


FAMILIES: dict[str, type[FamilyOptions]] = {
    cls.family: cls for cls in (TCNOptions, LinearOptions, BiGRUOptions, MGNOptions,
                                OMGOptions)
}
DEFAULT_FAMILY = "tcn"


def family_options(family: str) -> type[FamilyOptions]:
    try:
        return FAMILIES[family]
    except KeyError:
        raise ValueError(f"unknown model type {family!r}; known: {sorted(FAMILIES)}") from None


def model_type(model: dict[str, Any] | None) -> str:
    """The family a variant's ``model:`` block picks (``type``, default tcn)."""
    return (model or {}).get("type", DEFAULT_FAMILY)
