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

SPLITS = ("train", "val", "test")


class ConfigError(ValueError):
    pass


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def _describe(err: jsonschema.ValidationError) -> str:
    where = _key(err.absolute_path)
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hint = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"{where}: unknown key(s) {', '.join(map(repr, extra))}{hint}"
    if err.validator == "enum":
        return f"{where}: {err.instance!r} is not allowed; allowed values: {err.validator_value}"
    if err.validator == "required":
        return f"{where}: {err.message}"
    return f"{where}: {err.message}"


def _fill_defaults(schema: dict, node: Any, root: dict) -> None:
    if not isinstance(node, dict):
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
            _fill_defaults(sub, node[key], root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):  # e.g. every entry of `extractors`, `variants`, `ensembles`
        for key in set(node) - set(props):
            _fill_defaults(extra, node[key], root)


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: dict, schema_path: str | Path) -> dict:
    """Return the config with schema defaults filled in, or raise ConfigError listing all problems."""
    schema = load_schema(schema_path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    problems = [_describe(e) for e in errors]
    if not problems:
        config = copy.deepcopy(config)
        _fill_defaults(schema, config, schema)
        problems = _cross_checks(config)
        if not problems:
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
    demo = cfg.get("demo", {})
    if demo.get("enabled") and demo["min_seconds"] > demo["max_seconds"]:
        problems.append("demo.min_seconds: must not exceed demo.max_seconds")
    for name, ext in extractors.items():
        if ext.get("fmin", 0) >= ext.get("fmax", float("inf")):
            problems.append(f"extractors.{name}.fmin: must be below fmax")
    return problems


def variant_settings(cfg: dict, name: str) -> dict:
    """One variant's own slice: its features and its model / training settings over the defaults."""
    var = cfg["variants"][name]
    return {
        "features": list(var["features"]),
        "model": {**cfg.get("model_defaults", {}), **var.get("model", {})},
        "training": {**cfg.get("training_defaults", {}), **var.get("training", {})},
    }
