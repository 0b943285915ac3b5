"""The option classes are the one source: the committed schema and README tables equal what they
generate, defaults and output sizes come from them, and a wrong option of every backend and every
model family is rejected (by validate_config and at ``snakemake -n``) with its path and the
allowed values."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_type_hints

import pytest
import yaml

from eevflow import resources
from eevflow.config import ConfigError, validate_config, variant_settings
from eevflow.features import build_extractor
from eevflow.features.options import BACKENDS, LogMelOptions, MusicnnOptions
from eevflow.models.options import FAMILIES, TrainingOptions
from eevflow.models.tcn import TCNConfig
from eevflow.options import OptionError, Options, markdown_table, option, type_schema
from eevflow.schema import BASE, README, SCHEMA, readme_with_tables, schema_text

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture
def cfg():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_committed_schema_is_the_generated_one():
    assert SCHEMA.read_text() == schema_text(), "run `make schema`"


def test_readme_option_tables_are_the_generated_ones():
    text = README.read_text()
    assert text == readme_with_tables(text), "run `make schema`"
    for backend, cls in BACKENDS.items():  # every backend and option is in the tables
        assert f"`backend: {backend}`" in text
        for f in cls.option_fields():
            assert f"| `{f.name}` |" in text


def test_gen_schema_check_mode_detects_a_stale_schema(tmp_path, monkeypatch):
    proc = subprocess.run([sys.executable, "scripts/gen_schema.py", "--check"], cwd=REPO,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_schema", REPO / "scripts" / "gen_schema.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    stale, readme = tmp_path / "schema.yaml", tmp_path / "README.md"
    stale.write_text(SCHEMA.read_text().replace("frames per model call", "frames per call"))
    readme.write_text(README.read_text())
    monkeypatch.setattr(gen, "SCHEMA", stale)
    monkeypatch.setattr(gen, "README", readme)
    monkeypatch.setattr(sys, "argv", ["gen_schema.py", "--check"])
    assert gen.main() == 1 and "frames per call" in stale.read_text()  # --check writes nothing
    monkeypatch.setattr(sys, "argv", ["gen_schema.py"])
    assert gen.main() == 0 and stale.read_text() == SCHEMA.read_text()


def test_base_does_not_define_generated_parts_and_every_ref_resolves():
    base = yaml.safe_load(BASE.read_text())
    full = yaml.safe_load(SCHEMA.read_text())
    assert not {"extractor", "model", "training", "probe"} & set(base["definitions"])

    def refs(node):
        if isinstance(node, dict):
            if "$ref" in node:
                yield node["$ref"]
            for v in node.values():
                yield from refs(v)
        elif isinstance(node, list):
            for v in node:
                yield from refs(v)

    found = set(refs(full))
    assert {f"#/definitions/extractor_{b}" for b in BACKENDS} <= found
    for ref in found:
        target = full
        for part in ref.lstrip("#/").split("/"):
            target = target[part]


# ---------------------------------------------------------------------------- wrong options


def _wrong_choices(cls):
    """(key, the allowed values) of every choice option of a class."""
    hints = get_type_hints(cls)
    for f in cls.option_fields():
        s = type_schema(hints[f.name])
        if "enum" in s:
            yield f.name, s["enum"]


WRONG = [
    (kind, name, key, allowed)
    for kind, table in (("backend", BACKENDS), ("family", FAMILIES))
    for name, cls in table.items()
    for key, allowed in [*_wrong_choices(cls), ("no_such_option", None)]
]


def _apply(cfg, kind, name, key):
    """Give the demo config an entry of the backend (or a variant of the family) with one wrong
    option; returns the dotted path of that option."""
    if kind == "backend":
        cls = BACKENDS[name]
        cfg["extractors"]["probe_me"] = {"backend": name, "modality": cls.modality,
                                         key: "not_a_choice"}
        return f"extractors.probe_me.{key}" if key != "no_such_option" else "extractors.probe_me"
    var = cfg["variants"]["tcn_pe_av"]
    var["model"] = {"type": name, key: "not_a_choice"}
    return ("variants.tcn_pe_av.model" + (f".{key}" if key != "no_such_option" else ""))


@pytest.mark.parametrize("kind, name, key, allowed", WRONG,
                         ids=[f"{w[1]}.{w[2]}" for w in WRONG])
def test_a_wrong_option_names_its_path_and_the_allowed_values(cfg, kind, name, key, allowed):
    path = _apply(cfg, kind, name, key)
    with pytest.raises(ConfigError) as exc:
        validate_config(cfg, SCHEMA)
    msg = str(exc.value)
    if allowed is None:
        cls = (BACKENDS if kind == "backend" else FAMILIES)[name]
        expected_keys = sorted(f.name for f in cls.option_fields())
        assert f"{path}: unknown key(s) 'no_such_option'; allowed keys: " in msg
        assert all(k in msg for k in expected_keys)
    else:
        assert f"{path}: 'not_a_choice' is not allowed; allowed values: {allowed}" in msg


def test_training_choices_and_cross_option_rules(cfg):
    for key, allowed in _wrong_choices(TrainingOptions):
        bad = copy.deepcopy(cfg)
        bad["variants"]["tcn_pe_av"]["training"] = {key: "not_a_choice"}
        with pytest.raises(ConfigError, match=rf"variants\.tcn_pe_av\.training\.{key}: "
                                              rf"'not_a_choice' is not allowed"):
            validate_config(bad, SCHEMA)
    bad = copy.deepcopy(cfg)
    bad["extractors"]["logmel64"]["fmax"] = 100
    with pytest.raises(ConfigError, match=r"extractors\.logmel64\.fmax: 100 must be above fmin"):
        validate_config(bad, SCHEMA)
    bad["extractors"]["logmel64"]["fmax"] = 9000.0  # above Nyquist at 16 kHz
    with pytest.raises(ConfigError, match=r"logmel64\.fmax: 9000.0 is above half decode"):
        validate_config(bad, SCHEMA)
    bad = copy.deepcopy(cfg)
    bad["extractors"]["musicnn_mtt"].update(layer="taggram", dim=200)
    with pytest.raises(ConfigError, match=r"musicnn_mtt\.dim: 200 does not match layer 'taggram'"):
        validate_config(bad, SCHEMA)
    bad = copy.deepcopy(cfg)
    bad["extractors"]["logmel64"]["modality"] = "visual"
    with pytest.raises(ConfigError, match=r"logmel64\.modality: 'visual' is not allowed; "
                                          r"allowed values: \['audio'\]"):
        validate_config(bad, SCHEMA)


def test_wrong_options_are_rejected_at_snakemake_dry_run(cfg, tmp_path):
    """Every backend and the model family at once: the workflow stops before any job with each
    problem's path and allowed values."""
    expected = []
    for i, (kind, name, key, allowed) in enumerate(w for w in WRONG if w[3] is not None):
        if kind == "backend":
            cls = BACKENDS[name]
            cfg["extractors"][f"bad{i}"] = {"backend": name, "modality": cls.modality,
                                            key: "not_a_choice"}
            expected.append(f"extractors.bad{i}.{key}: 'not_a_choice' is not allowed; "
                            f"allowed values: {allowed}")
        else:
            cfg["variants"][f"bad{i}"] = {"features": ["logmel64"],
                                          "model": {"type": name, key: "not_a_choice"}}
            expected.append(f"variants.bad{i}.model.{key}: 'not_a_choice' is not allowed; "
                            f"allowed values: {allowed}")
    cfg["results_dir"] = str(tmp_path / "results")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "--configfile", str(path)], cwd=REPO,
                          capture_output=True, text=True, env=env, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "invalid configuration" in out and "Job stats" not in out
    missing = [e for e in expected if e not in out]
    assert not missing, out[-4000:]
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------------------- one source


def test_defaults_come_from_the_classes(cfg):
    out = validate_config(cfg, SCHEMA)
    logmel = out["extractors"]["logmel64"]
    assert {k: logmel[k] for k in ("fmin", "fmax", "win_ms", "hop_ms")} == {
        k: v for k, v in LogMelOptions.defaults().items() if k in ("fmin", "fmax", "win_ms", "hop_ms")
    }
    assert out["extractors"]["musicnn_mtt"]["window"] == MusicnnOptions().window
    s = variant_settings(out, "audio_dp03_pe")
    assert s["model"]["head_hidden"] == FAMILIES["tcn"]().head_hidden  # not in the config
    assert s["model"]["channels"] == cfg["model_defaults"]["tcn"]["channels"]  # model_defaults
    assert s["model"]["stacks"] == 2  # the variant's own
    assert s["training"]["momentum"] == TrainingOptions().momentum
    schema = yaml.safe_load(SCHEMA.read_text())
    assert schema["definitions"]["extractor_logmel"]["properties"]["fmin"]["default"] == 125.0
    assert schema["definitions"]["training"]["properties"]["lr"]["default"] == 0.005


# backends with options that have no default: the least entry that builds
REQUIRED_OPTIONS = {"precomputed": {"modality": "audio", "dim": 8, "path": "f", "rate_hz": 6.0},
                    "timm_image": {"checkpoint": "weights.safetensors"}}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_output_size_is_the_backends_own(backend):
    cls = BACKENDS[backend]
    entry = {"backend": backend, "modality": cls.modality, **REQUIRED_OPTIONS.get(backend, {})}
    ext = build_extractor("x", entry)  # nothing loaded: models load on first use
    assert ext.dim == resources.extractor_dim(entry) == cls.from_dict(entry).output_dim()
    assert type(ext).backend == backend and type(ext).modality == cls.modality


def test_sizes_follow_the_options():
    assert resources.extractor_dim({"backend": "logmel", "n_mels": 40}) == 40
    assert resources.extractor_dim({"backend": "musicnn", "layer": "taggram"}) == 50
    assert resources.extractor_dim({"backend": "tfhub_audio", "model": "yamnet"}) == 1024
    assert resources.extractor_dim({"backend": "tfhub_audio", "model": "vggish", "dim": 7}) == 7
    with pytest.raises(ValueError, match="unknown extractor backend 'clip'"):
        resources.extractor_dim({"backend": "clip"})  # not a guessed 2048


# ---------------------------------------------------------------------------- the framework


@dataclass
class _Demo(Options):
    """A demo class."""

    name: str = option(description="required")
    mode: Literal["a", "b"] = option("a", "a choice")
    size: int = option(3, "a size", minimum=1)
    ratio: float | None = option(None, "a ratio or null", maximum=1)
    steps: list[int] = option([1, 2], "a list", minItems=1, items={"minimum": 1})


def test_type_schema_and_generated_object_schema():
    assert type_schema(Literal["a", "b"]) == {"enum": ["a", "b"]}
    assert type_schema(int | None) == {"type": ["integer", "null"]}
    assert type_schema(str | int | None) == {"type": ["string", "integer", "null"]}
    assert type_schema(Literal["x"] | None) == {"enum": ["x", None]}
    assert type_schema(list[float]) == {"type": "array", "items": {"type": "number"}}
    assert type_schema(bool) == {"type": "boolean"}
    s = _Demo.json_schema()
    assert s["additionalProperties"] is False and s["required"] == ["name"]
    assert s["properties"]["steps"] == {"type": "array", "items": {"type": "integer", "minimum": 1},
                                        "minItems": 1, "default": [1, 2], "description": "a list"}
    assert s["properties"]["ratio"]["maximum"] == 1 and s["description"] == "A demo class."


def test_from_dict_validates_and_fills_defaults():
    d = _Demo.from_dict({"name": "n", "size": 5})
    assert (d.mode, d.size, d.ratio, d.steps) == ("a", 5, None, [1, 2])
    with pytest.raises(OptionError) as exc:
        _Demo.from_dict({"size": 0, "mode": "c", "steps": [0], "extra": 1}, "blk")
    problems = "\n".join(exc.value.problems)
    assert "blk: 'name' is a required property" in problems
    assert "blk.mode: 'c' is not allowed; allowed values: ['a', 'b']" in problems
    assert "blk.size: 0 is less than the minimum of 1" in problems
    assert "blk.steps.0: 0 is less than the minimum of 1" in problems
    assert "blk: unknown key(s) 'extra'" in problems
    with pytest.raises(OptionError, match="mode: 'z' is not allowed"):
        _Demo(mode="z", name="n")  # a choice is checked when code builds one directly, too
    with pytest.raises(OptionError, match="positional_encoding: 'learned' is not allowed"):
        TCNConfig(input_dim=3, positional_encoding="learned")
    with pytest.raises(TypeError, match="needs a description"):
        option(1)


def test_markdown_table_lists_every_option():
    table = markdown_table(_Demo)
    assert "| `mode` | `a`, `b` | `a` | a choice |" in table
    assert "| `ratio` | number or null | `null` | a ratio or null |" in table
    assert "| `name` | string | required | required |" in table
