"""``pretrained: PATH`` variants: a checkpoint imported as the variant's model file instead of
training one (rule import_pretrained), after checks that it fits the config.

Two layouts are accepted:

- **eevflow's own** (``models/<variant>/model.pt`` of any run): the dict ``Trainer.checkpoint``
  writes (family, model_state, model_config, train_config, feature_mean / feature_std, settings,
  targets, ...). It is written back unchanged but for an ``imported_from`` entry.
- **the winner's released code** (github.com/th2l/EvokedExpr-TPF, ``src/core``): a PyTorch
  Lightning checkpoint of its ``EEVModel`` with the TCN temporal type and a single feature, or
  that checkpoint's bare ``state_dict``. Its keys, per feature ``<f>`` (effb0, audio, resnet)::

      temporal_<f>.network.<i>.conv1.{weight | weight_g, weight_v}, .conv1.bias   (one stack)
      temporal_<f>.<s>.network.<i>.conv1...                                        (TCN.NUM_STACK > 1)
      ... .conv2.*, .downsample.{weight, bias} (where the widths differ), .net.<j>.* (the same
      convolutions again, registered twice)
      regression_<f>.0.weight (FC_HIDDEN, C), regression_<f>.2.weight (n_targets, FC_HIDDEN)

  They map onto eevflow's tcn family (eevflow.models.tcn): level ``i`` of stack ``s`` is block
  ``s * levels + i`` with dilation ``2 ** i``; conv1 / conv2 are ``net.0`` / ``net.4``; the old
  ``torch.nn.utils.weight_norm`` pair ``weight_g`` / ``weight_v`` is the parametrization's
  ``original0`` / ``original1``; the regression head is ``head``. The widths, kernel size,
  levels, stacks, weight norm and head width are read off the shapes. Its input is the features
  with the row's timestamp in seconds appended last (``MODEL.USE_POSITION``: eevflow's
  ``positional_encoding: timestamp``) or the features alone (``none``), told apart by the
  first convolution's input channels against the extractor's dim. Its outputs are divided by
  its scale factor, 10 (``target_scale: 10``).

  What it lacks, and is assumed: **no feature standardisation** (the code feeds the features as
  they are), so the imported checkpoint's ``feature_mean`` is 0 and ``feature_std`` 1; the
  features must be the ones it was trained on (e.g. its released .pt files through a
  ``precomputed`` extractor, or the extractor that made them). A checkpoint of several features
  (one TCN each, fused by ``fusion_layer``) has no eevflow equivalent (one TCN over the
  concatenated features) and is refused: import one single-feature checkpoint per variant and
  combine them with an ensemble. The LSTM temporal type is refused too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping

import torch

import eevflow
from eevflow.io import atomic_path, write_json

log = logging.getLogger(__name__)

#: eevflow checkpoint entries the predict job reads
REQUIRED = ("family", "model_state", "model_config", "train_config", "feature_mean",
            "feature_std")
#: the winner's code divides its outputs by this (models.py: scale_factor)
TPF_TARGET_SCALE = 10.0
_TPF_KEY = re.compile(r"^temporal_(?P<f>[^.]+)\.(?:(?P<s>\d+)\.)?network\.(?P<i>\d+)\."
                      r"(?P<m>conv1|conv2|downsample)\.(?P<p>weight|weight_g|weight_v|bias)$")
_TPF_PARAM = {"weight": "weight", "bias": "bias", "weight_g": "parametrizations.weight.original0",
              "weight_v": "parametrizations.weight.original1"}
_TPF_MODULE = {"conv1": "net.0", "conv2": "net.4", "downsample": "downsample"}


class PretrainedError(ValueError):
    """A checkpoint that does not fit the variant or the config; the message names the file."""


def sha256_file(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_checkpoint(path) -> dict:
    """The file as a dict of plain data and tensors (``torch.load(weights_only=True)``)."""
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  (unpickling fails in many ways)
        raise PretrainedError(
            f"{path}: cannot load with torch.load(weights_only=True) ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); for a checkpoint that holds other "
            "objects, save its state_dict alone (a file you trust) and name that") from exc
    if not isinstance(obj, dict):
        raise PretrainedError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict")
    return obj


def is_tpf(ckpt: Mapping) -> bool:
    """Whether ``ckpt`` is the winner's layout (a Lightning checkpoint or its state dict)."""
    state = ckpt.get("state_dict", ckpt)
    return isinstance(state, Mapping) and any(str(k).startswith("temporal_") for k in state)


def tpf_to_eevflow(ckpt: Mapping, path, settings: dict, dims: Mapping[str, int],
                   targets: list[str], target_range) -> dict:
    """The winner's single-feature TCN checkpoint as an eevflow tcn checkpoint (module docs)."""
    from eevflow.models import model_config

    state = ckpt.get("state_dict", ckpt)
    feats = sorted({str(k).split(".")[0][len("temporal_"):] for k in state
                    if str(k).startswith("temporal_")})
    if len(feats) != 1 or any(str(k).startswith("fusion_layer") for k in state):
        raise PretrainedError(
            f"{path}: a checkpoint of the winner's code with {len(feats)} features {feats} (one "
            "TCN each, fused by fusion_layer) does not map onto eevflow's tcn (one TCN over the "
            "concatenated features): import one single-feature checkpoint per variant and "
            "combine them with an ensemble")
    (f,) = feats
    if settings["model"]["type"] != "tcn":
        raise PretrainedError(f"{path}: the winner's checkpoints are tcn models; the variant "
                              f"says model.type {settings['model']['type']!r}")
    if len(settings["features"]) != 1:
        raise PretrainedError(f"{path}: a single-feature checkpoint ({f}); the variant reads "
                              f"{settings['features']}")
    mapped, blocks = {}, {}
    for key, value in state.items():
        m = _TPF_KEY.match(str(key))
        if m is None:
            continue  # the .net.<j> duplicates, the regression head (below), metric states
        s, i = int(m["s"] or 0), int(m["i"])
        blocks.setdefault((s, i), {})[(m["m"], m["p"])] = value
    if not blocks:
        raise PretrainedError(f"{path}: temporal_{f} holds no TCN layers (network.<i>.conv1); "
                              "the LSTM temporal type does not map onto eevflow's tcn")
    stacks = 1 + max(s for s, _ in blocks)
    levels = 1 + max(i for _, i in blocks)
    if set(blocks) != {(s, i) for s in range(stacks) for i in range(levels)}:
        raise PretrainedError(f"{path}: temporal_{f} lacks some of its {stacks} x {levels} "
                              "TCN levels")
    for (s, i), params in sorted(blocks.items()):
        for (mod, par), value in params.items():
            mapped[f"tcn.{s * levels + i}.{_TPF_MODULE[mod]}.{_TPF_PARAM[par]}"] = value
    try:
        hidden = state[f"regression_{f}.0.weight"]
        out = state[f"regression_{f}.2.weight"]
    except KeyError as exc:
        raise PretrainedError(f"{path}: no regression_{f} head ({exc.args[0]} missing)") from None
    mapped["head.0.weight"], mapped["head.2.weight"] = hidden, out
    first = blocks[(0, 0)]
    w = first.get(("conv1", "weight"), first.get(("conv1", "weight_v")))
    if w is None:
        raise PretrainedError(f"{path}: temporal_{f} level 0 has no conv1 weight")
    channels, in_ch, kernel = (int(n) for n in w.shape)
    dim = int(dims[settings["features"][0]])
    pe = {dim: "none", dim + 1: "timestamp"}.get(in_ch)
    if pe is None:
        raise PretrainedError(
            f"{path}: its TCN reads {in_ch} channels; extractor {settings['features'][0]!r} "
            f"gives {dim} (+1 with the timestamp channel): not the features it was trained on")
    options = {**settings["model"], "channels": channels, "kernel_size": kernel,
               "dilations": [2 ** i for i in range(levels)], "stacks": stacks,
               "weight_norm": ("conv1", "weight_g") in first, "positional_encoding": pe,
               "head_hidden": int(hidden.shape[0])}
    cfg = model_config("tcn", options, dim, int(out.shape[0]), target_range=target_range)
    return {
        "family": "tcn",
        "model_state": mapped,
        "model_config": cfg.to_dict(),
        "train_config": {**settings["training"], "target_scale": TPF_TARGET_SCALE},
        # assumed: the winner's code standardises nothing
        "feature_mean": torch.zeros(dim, dtype=torch.float32),
        "feature_std": torch.ones(dim, dtype=torch.float32),
        "settings": settings,
        "targets": list(targets),
        "target_range": None if target_range is None else list(target_range),
        "tpf": {"feature": f, "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step")},
    }


def checkpoint_problems(ckpt: Mapping, settings: dict, extractors: Mapping[str, list],
                        targets: list[str], target_range) -> list[str]:
    """What does not fit: missing entries, the family, a model that does not build or whose
    state does not load, the features (names and dims: ``extractors``: name -> [dim,
    modality]), the targets."""
    from eevflow.models import build_model, config_from_dict

    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        return [f"not an eevflow checkpoint: no {', '.join(missing)}"]
    problems = []
    family, want = ckpt["family"], settings["model"]["type"]
    if family != want:
        problems.append(f"a {family} model; the variant's model.type is {want!r}")
    feats = list(settings["features"])
    dims = [int(extractors[f][0]) for f in feats]
    saved = (ckpt.get("settings") or {}).get("features")
    if saved is not None and list(saved) != feats:
        problems.append(f"trained on the features {list(saved)}; the variant reads {feats}")
    mc = dict(ckpt["model_config"])
    if int(mc.get("input_dim", -1)) != sum(dims):
        problems.append(f"its model reads {mc.get('input_dim')} feature values a row; the "
                        f"variant's extractors give {sum(dims)} ({dict(zip(feats, dims))})")
    for stream, (name, dim) in zip(mc.get("streams") or [], zip(feats, dims)):
        if list(stream[:2]) != [name, dim]:
            problems.append(f"its stream {stream[:2]} is not the config's [{name!r}, {dim}]")
    n_mean, n_std = len(ckpt["feature_mean"]), len(ckpt["feature_std"])
    if n_mean != sum(dims) or n_std != sum(dims):
        problems.append(f"feature standardisation of {n_mean} / {n_std} values, not {sum(dims)}")
    saved_targets = ckpt.get("targets")
    if saved_targets is not None and list(saved_targets) != list(targets):
        problems.append(f"its targets {list(saved_targets)} are not the config's "
                        f"{list(targets)}")
    if int(mc.get("n_targets", -1)) != len(targets):
        problems.append(f"its model predicts {mc.get('n_targets')} targets, the config has "
                        f"{len(targets)}")
    if "target_range" in ckpt and ckpt["target_range"] is not None and target_range is not None \
            and [float(v) for v in ckpt["target_range"]] != [float(v) for v in target_range]:
        problems.append(f"its target_range {ckpt['target_range']} is not the config's "
                        f"{list(target_range)}")
    if problems:
        return problems
    try:
        model = build_model(config_from_dict(family, mc))
    except Exception as exc:  # noqa: BLE001
        return [f"its model_config does not build a {family} model: {type(exc).__name__}: {exc}"]
    try:
        model.load_state_dict(ckpt["model_state"])
    except Exception as exc:  # noqa: BLE001  (missing / unexpected keys, shape mismatches)
        return [f"its weights do not load into the {family} model its config builds: "
                f"{' '.join(str(exc).split())[:600]}"]
    return []


def import_checkpoint(*, source, variant: str, settings: dict, extractors: Mapping[str, list],
                      targets: list[str], target_range, model_path, history_path) -> dict:
    """Check ``source`` against the variant and the config, write it as the variant's model file
    (converted from the winner's layout where it is that) and an honest history: imported, not
    trained. Returns the history."""
    ckpt = load_checkpoint(source)
    layout = "eevflow"
    if is_tpf(ckpt):
        dims = {f: int(extractors[f][0]) for f in settings["features"]}
        ckpt, layout = tpf_to_eevflow(ckpt, source, settings, dims, targets, target_range), "tpf"
    problems = checkpoint_problems(ckpt, settings, extractors, targets, target_range)
    if problems:
        raise PretrainedError(f"variants.{variant}.pretrained: {source} does not fit:\n  - "
                              + "\n  - ".join(problems))
    digest = sha256_file(source)
    imported = {"source": os.path.abspath(source), "sha256": digest, "layout": layout}
    out = {**ckpt, "variant": variant, "imported_from": imported,
           "eevflow_version": ckpt.get("eevflow_version", eevflow.__version__)}
    with atomic_path(model_path) as tmp:
        torch.save(out, tmp)
    history = {
        "variant": variant, "settings": settings, "imported": True, **imported,
        "family": ckpt["family"], "model_config": ckpt["model_config"],
        "trained_as": ckpt.get("variant"), "epochs": [],
        # the source run's kept epoch and its validation score, where it says (not re-measured)
        "source_best": ckpt.get("best"),
        "feature_standardisation": "assumed none (mean 0, std 1)" if layout == "tpf"
        else "the checkpoint's",
    }
    write_json(history, history_path)
    log.info("%s: imported %s (%s layout, sha256 %s)", variant, source, layout, digest[:12])
    return history
