"""Configuration checks run before any job: the JSON schema, then the cross-references it cannot
express. Every problem is reported at once, each naming its key and, where it applies, the allowed
values.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from eevflow.audio_path import TPF_RATE
from eevflow.features.options import BACKENDS
from eevflow.models.options import OMGOptions, TrainingOptions, family_options, model_type
from eevflow.options import describe_error
from eevflow.paper_tables import check_paper_tables
from eevflow.sweeps import point_variant, sweep_points
from eevflow.targets import UNIT, parse_range

SPLITS = ("train", "val", "test")


class ConfigError(ValueError):
    pass


# Blocks layered over other blocks: a variant's model: and training: are merged over
# model_defaults / training_defaults by variant_settings, which adds the class defaults
# underneath; filling them here would make every default override the defaults blocks.
NO_FILL = ("variants",)


def _fill_defaults(schema: dict, node: Any, root: dict, path: tuple = ()) -> None:
    if not isinstance(node, dict) or (path and path[0] in NO_FILL):
        return
    if "$ref" in schema:
        ref = schema["$ref"].lstrip("#/").split("/")
        target = root
        for part in ref:
            target = target[part]
        schema = target
    props = schema.get("properties", {})
    for key, sub in props.items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if key in node:
            _fill_defaults(sub, node[key], root, path + (key,))
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):  # e.g. every entry of `extractors`, `ensembles`
        for key in set(node) - set(props):
            _fill_defaults(extra, node[key], root, path + (key,))


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Return the config with schema defaults filled in, or raise ConfigError listing all problems."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [describe_error(e) for e in errors]
    if not problems:
        config = copy.deepcopy(config)
        _fill_defaults(schema, config, schema)
        problems = _option_checks(config) + _cross_checks(config)
        if not problems:
            if parse_range(config["target_range"]) != UNIT:  # only EEV's [0, 1] has "no face"
                config["scoring"]["ignore_undetected"] = False
            return config
    raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def _cross_checks(cfg: dict) -> list[str]:
    problems = []
    extractors, variants = cfg["extractors"], cfg["variants"]
    for name, var in variants.items():
        for feat in var["features"]:
            if feat not in extractors:
                problems.append(
                    f"variants.{name}.features: unknown extractor {feat!r}; "
                    f"allowed values: {sorted(extractors)}"
                )
    for name, ens in cfg.get("ensembles", {}).items():
        if name in variants:
            problems.append(f"ensembles.{name}: name already used by a variant")
        for member in ens["members"]:
            if member not in variants:
                problems.append(
                    f"ensembles.{name}.members: unknown variant {member!r}; "
                    f"allowed values: {sorted(variants)}"
                )
        if ens["select_weights"] == "fixed" and sum(ens["members"].values()) <= 0:
            problems.append(f"ensembles.{name}.members: weights must have a positive sum")
        k = round(1 / ens["grid_step"])
        if abs(k * ens["grid_step"] - 1) > 1e-9:
            problems.append(f"ensembles.{name}.grid_step: must divide 1 (e.g. 0.1, 0.05)")
    dec = cfg["decode"]
    if dec["audio_path"] == "tpf_librosa" and dec["audio_sample_rate"] != TPF_RATE:
        problems.append(f"decode.audio_sample_rate: must be {TPF_RATE} with decode.audio_path: "
                        f"tpf_librosa (TPF resamples 22,050 Hz to {TPF_RATE} Hz), not "
                        f"{dec['audio_sample_rate']}")
    demo = cfg.get("demo", {})
    if demo.get("enabled") and demo["min_seconds"] > demo["max_seconds"]:
        problems.append("demo.min_seconds: must not exceed demo.max_seconds")
    problems += _target_checks(cfg)
    problems += _init_from_checks(cfg)
    problems += _pretrained_checks(cfg)
    problems += _predict_checks(cfg)
    problems += check_paper_tables(cfg.get("paper_tables", {}),
                                   [*variants, *cfg.get("ensembles", {})])
    return problems


def _predict_checks(cfg: dict) -> list[str]:
    """``predict``: the models named exist; a videos folder or files exist."""
    pred = cfg.get("predict", {})
    known = [*cfg["variants"], *cfg.get("ensembles", {})]
    problems = [f"predict.models: unknown model {m!r}; allowed values: {sorted(known)}"
                for m in pred.get("models", []) if m not in known]
    videos = pred.get("videos")
    for path in [videos] if isinstance(videos, str) else videos or []:
        if not Path(path).exists():
            problems.append(f"predict.videos: no such file or folder: {path}")
    return problems


def _pretrained_checks(cfg: dict) -> list[str]:
    """``variants.<v>.pretrained``: an existing file, made absolute (a relative path is the working
    directory's); a variant that is imported is not trained, so neither swept nor given training
    options. The checkpoint itself is checked by its import job (eevflow.pretrained)."""
    problems = []
    for name, var in cfg["variants"].items():
        path = var.get("pretrained")
        if path is None:
            continue
        where = f"variants.{name}.pretrained"
        for key in ("sweep", "training"):
            if var.get(key):
                problems.append(f"{where}: an imported variant is not trained: remove its {key} "
                                f"(or pretrained)")
        full = Path(path).expanduser().absolute()
        if not full.is_file():
            problems.append(f"{where}: no such checkpoint file: {path} (looked for {full})")
        else:
            var["pretrained"] = str(full)
    return problems


def _target_checks(cfg: dict) -> list[str]:
    """``target_range`` is a range, and an enabled demo writes the configured targets."""
    from eevflow.demo.spec import TARGET_SETS

    try:
        rng = parse_range(cfg.get("target_range", list(UNIT)))
    except ValueError as e:
        return [str(e)]
    demo = cfg.get("demo", {})
    if not demo.get("enabled") or demo.get("kind", "synthetic") != "synthetic":
        if demo.get("enabled") and demo.get("targets", "eev") != "eev":
            return ["demo.targets: only the synthetic demo has arousal_valence"]
        return []
    kind = demo.get("targets", "eev")
    names, want = list(TARGET_SETS[kind]), UNIT if kind == "eev" else (-1.0, 1.0)
    problems = []
    if list(cfg["targets"]) != names:
        problems.append(f"targets: the {kind} demo writes {names}, not {list(cfg['targets'])}")
    if rng != want:
        problems.append(f"target_range: the {kind} demo's targets are in {list(want)}, not "
                        f"{None if rng is None else list(rng)}")
    return problems


def _option_checks(cfg: dict) -> list[str]:
    """Through the option classes (after the schema passed): the rules between options, and the
    extractors' defaults filled in (the config then states every option each job runs with, so
    that a changed default reruns what it changes)."""
    problems = []
    for name, ext in cfg["extractors"].items():
        cls = BACKENDS[ext["backend"]]
        found = cls.problems(ext, ("extractors", name))
        if not found:
            opts = cls.from_dict(ext)
            found = [f"extractors.{name}.{key}: {msg}" for key, msg in opts.check_decode(cfg["decode"])]
            cfg["extractors"][name] = {"backend": cls.backend, "modality": cls.modality,
                                       **opts.to_dict()}
        problems += found
    for family, block in cfg.get("model_defaults", {}).items():
        problems += family_options(family).problems(block, ("model_defaults", family))
    trainable, _ = expand_sweeps(cfg)
    for name, var in trainable.items():  # sweep points too: each named by its values
        s = variant_settings(cfg, name, trainable)
        where = ("variants", *name.split("/", 1))
        problems += family_options(model_type(s["model"])).problems(s["model"], (*where, "model"))
        problems += TrainingOptions.problems(s["training"], (*where, "training"))
    return problems


def variant_settings(cfg: dict, name: str, variants: dict | None = None) -> dict:
    """One variant's own slice: its features, and its model and training options over the
    defaults (the family's class defaults, then ``model_defaults.<type>``, then the variant's
    own; the same for training), every option stated. ``variants``: where to look the name up
    (default the config's; :func:`expand_sweeps`'s trainable entries for sweep points)."""
    var = (variants if variants is not None else cfg["variants"])[name]
    family = model_type(var.get("model"))
    model = {
        **family_options(family).defaults(),
        **cfg.get("model_defaults", {}).get(family, {}),
        **var.get("model", {}),
        "type": family,
    }
    training = {
        **TrainingOptions.defaults(),
        **cfg.get("training_defaults", {}),
        **var.get("training", {}),
    }
    return {"features": list(var["features"]), "model": model, "training": training}


def expand_sweeps(cfg: dict) -> tuple[dict[str, dict], dict[str, dict[str, dict]]]:
    """(trainable variants: name -> entry, with every sweep replaced by its points; sweeps:
    variant -> {point name -> its values}) (eevflow.sweeps)."""
    trainable, sweeps = {}, {}
    for name, var in cfg["variants"].items():
        if not var.get("sweep"):
            trainable[name] = var
            continue
        own = {k: v for k, v in var.items() if k != "sweep"}
        points = sweep_points(name, var, variant_settings(cfg, name, {name: own}))
        sweeps[name] = points
        for point, values in points.items():
            trainable[point] = point_variant(var, values)
    return trainable, sweeps


def _init_from_checks(cfg: dict) -> list[str]:
    """omg ``model.init_from`` (two-stage training): each branch -> an existing omg variant (not
    an ensemble, not swept) with that branch alone, the same features for it and the same shapes
    of its weights; no variant initialised, directly or not, from itself."""
    shapes = OMGOptions.SHAPE_OPTIONS
    trainable, sweeps = expand_sweeps(cfg)
    settings = {n: variant_settings(cfg, n, trainable) for n in trainable}
    modality = {n: e.get("modality") for n, e in cfg["extractors"].items()}
    omg = sorted(n for n in cfg["variants"] if n in settings
                 and settings[n]["model"]["type"] == "omg")
    problems, edges = [], {}

    def feats(name, branch):
        return [f for f in settings[name]["features"] if modality.get(f) == branch]

    for name, s in settings.items():
        model = s["model"]
        for branch, src in sorted(model.get("init_from", {}).items()):
            if model["type"] != "omg" or branch not in shapes or not isinstance(src, str):
                continue  # reported by the option checks
            where = f"variants.{name}.model.init_from.{branch}"
            edges.setdefault(name, set()).add(src)
            other = settings.get(src, {}).get("model", {})
            if not feats(name, branch):
                problems.append(f"{where}: this variant has no {branch} features (its features: "
                                f"{s['features']})")
            elif src in cfg.get("ensembles", {}):
                problems.append(f"{where}: {src!r} is an ensemble, not a trained omg variant; "
                                f"omg variants: {omg}")
            elif src in sweeps:
                problems.append(f"{where}: {src!r} is swept (its points are trained, not it); "
                                f"omg variants: {omg}")
            elif src not in settings:
                problems.append(f"{where}: unknown variant {src!r}; omg variants: {omg}")
            elif other["type"] != "omg":
                problems.append(f"{where}: {src!r} is a {other['type']} variant, not omg; omg "
                                f"variants: {omg}")
            elif {modality.get(f) for f in settings[src]["features"]} != {branch}:
                problems.append(f"{where}: {src!r} must have the {branch} branch alone, but its "
                                f"features {settings[src]['features']} are not all {branch}")
            elif feats(src, branch) != feats(name, branch):
                problems.append(f"{where}: {src!r} reads the {branch} features "
                                f"{feats(src, branch)}, this variant {feats(name, branch)} (the "
                                f"same extractors, in the same order)")
            else:
                problems += [f"{where}: {src!r} has {key} {other[key]}, this variant "
                             f"{model[key]} (the branch's weights must fit)"
                             for key in shapes[branch] if other[key] != model[key]]
    for start in sorted(edges):  # a cycle: the train jobs would wait on each other
        seen, todo = set(), list(edges[start])
        while todo and start not in seen:
            nxt = todo.pop()
            if nxt not in seen:
                seen.add(nxt)
                todo += edges.get(nxt, ())
        if start in seen:
            problems.append(f"variants.{start}.model.init_from: leads back to {start!r}")
    return problems
