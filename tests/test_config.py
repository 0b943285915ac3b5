import copy
from pathlib import Path

import pytest
import yaml

from eevflow.config import ConfigError, validate_config, variant_settings

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "schemas" / "config.schema.yaml"


@pytest.fixture
def cfg():
    return yaml.safe_load((REPO / "config.yaml").read_text())


def test_shipped_configs_are_valid(cfg):
    out = validate_config(cfg, SCHEMA)
    assert out["scoring"]["constant_policy"] == "minus_one"
    assert out["decode"]["frame_size"] == 224
    for path in (REPO / "configs").glob("*.yaml"):
        validate_config(yaml.safe_load(path.read_text()), SCHEMA)


def test_defaults_are_filled(cfg):
    del cfg["scoring"], cfg["decode"]
    out = validate_config(cfg, SCHEMA)
    assert out["scoring"] == {
        "constant_policy": "minus_one", "ignore_undetected": True, "unscorable": "exclude",
    }
    assert out["decode"]["audio_sample_rate"] == 16000


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["extractors"]["logmel64"].update(n_melz=3), "extractors.logmel64: unknown key"),
        (lambda c: c["scoring"].update(constant_policy="zero"), "allowed values: ['minus_one'"),
        (lambda c: c["scoring"].update(unscorable="minus_one"),
         "scoring.unscorable: 'minus_one' is not allowed; allowed values: ['exclude', "
         "'constant_policy']"),
        (lambda c: c.update(bogus=1), "(top level): unknown key(s) 'bogus'"),
        (lambda c: c["training_defaults"].update(epochs="many"), "training_defaults.epochs"),
        (lambda c: c["variants"]["tcn_pe_av"].update(features=["nope"]),
         "variants.tcn_pe_av.features: unknown extractor 'nope'"),
        (lambda c: c["ensembles"]["ensemble_paper"]["members"].update(ghost=0.1),
         "unknown variant 'ghost'"),
        (lambda c: c["model_defaults"]["tcn"].update(positional_encoding="learned"),
         "model_defaults.tcn.positional_encoding"),
        (lambda c: c.update(download={"enabled": True, "url_template": "https://x/{vid}"}),
         "download.url_template"),
        (lambda c: c.update(probe={"no_audio": "drop"}), "allowed values: ['silence', 'exclude']"),
        (lambda c: c["data"].update(video_extensions=["mp4"]), "data.video_extensions"),
    ],
)
def test_bad_configs_name_the_key(cfg, mutate, message):
    bad = copy.deepcopy(cfg)
    mutate(bad)
    with pytest.raises(ConfigError) as exc:
        validate_config(bad, SCHEMA)
    assert message in str(exc.value)


def test_variant_settings_merge_defaults(cfg):
    s = variant_settings(validate_config(cfg, SCHEMA), "audio_dp03_nope")
    assert s["model"]["positional_encoding"] == "none"
    assert s["model"]["channels"] == cfg["model_defaults"]["tcn"]["channels"]
    assert s["training"]["epochs"] == cfg["training_defaults"]["epochs"]


def test_paper_config_mirrors_table_1():
    cfg = validate_config(yaml.safe_load((REPO / "configs" / "eev_paper.yaml").read_text()), SCHEMA)
    rows = {}
    for name in cfg["variants"]:
        s = variant_settings(cfg, name)
        ext = cfg["extractors"][s["features"][0]]
        rows[name] = (ext["model"], s["model"]["dropout"], s["model"]["positional_encoding"],
                      s["model"]["stacks"])
    assert sorted(rows.values()) == sorted([
        ("efficientnet_b0", 0.3, "timestamp", 1),
        ("trill_distilled", 0.3, "timestamp", 2),
        ("trill_distilled", 0.3, "none", 2),
        ("trill_distilled", 0.2, "timestamp", 2),
        ("trill_distilled", 0.0, "timestamp", 2),
    ])
    t = cfg["training_defaults"]
    assert (t["optimizer"], t["lr"], t["grad_accum"], t["epochs"]) == ("sgd", 0.005, 32, 20)
    m = cfg["model_defaults"]["tcn"]
    assert (m["channels"], m["kernel_size"], m["dilations"], m["weight_norm"]) == (
        512, 3, [1, 2, 4, 8], False)
    (ens,) = cfg["ensembles"].values()
    weights = sorted(ens["members"].values())
    assert weights == [0.2, 0.8]


def test_demo_config_has_the_paper_variant_shapes(cfg):
    demo = validate_config(cfg, SCHEMA)
    paper = validate_config(yaml.safe_load((REPO / "configs" / "eev_paper.yaml").read_text()), SCHEMA)

    def shape(c, name):
        s = variant_settings(c, name)
        modality = c["extractors"][s["features"][0]]["modality"]
        return (modality, s["model"]["dropout"], s["model"]["positional_encoding"], s["model"]["stacks"])

    tcn = [v for v in demo["variants"] if variant_settings(demo, v)["model"]["type"] == "tcn"]
    assert {shape(paper, v) for v in paper["variants"]} <= {shape(demo, v) for v in tcn}


def _property_paths(node, path=()):
    """(dotted path, schema) of every property schema under ``node``: the children of each
    ``properties``, found through additionalProperties objects, items, definitions / $defs and
    oneOf / anyOf / allOf."""
    if not isinstance(node, dict):
        return
    for key, sub in node.get("properties", {}).items():
        yield ".".join(path + (key,)), sub
        yield from _property_paths(sub, path + (key,))
    if isinstance(node.get("additionalProperties"), dict):
        yield from _property_paths(node["additionalProperties"], path + ("*",))
    items = node.get("items")
    for sub in items if isinstance(items, list) else [items]:
        yield from _property_paths(sub, path + ("[]",))
    for defs in ("definitions", "$defs"):
        for key, sub in node.get(defs, {}).items():
            yield from _property_paths(sub, path + (defs, key))
    for comb in ("oneOf", "anyOf", "allOf"):
        for i, sub in enumerate(node.get(comb, [])):
            yield from _property_paths(sub, path + (f"{comb}[{i}]",))


def test_every_config_key_has_a_description():
    schema = yaml.safe_load(SCHEMA.read_text())
    found = list(_property_paths(schema))
    assert len(found) > 90  # the walk reaches the nested and the definitions' properties
    missing = [
        path for path, sub in found
        if not (isinstance(sub, dict) and isinstance(sub.get("description"), str)
                and sub["description"].strip())
    ]
    assert not missing, "properties without a description: " + ", ".join(missing)


@pytest.mark.parametrize("name", ["config.yaml", "configs/eev_paper.yaml",
                                  "configs/eev_tpf2021.yaml", "configs/eev_tpf2022.yaml",
                                  "configs/eev_mgn_ma.yaml", "configs/eev_sparse_bigru.yaml"])
def test_described_schema_still_validates_the_shipped_configs(name):
    out = validate_config(yaml.safe_load((REPO / name).read_text()), SCHEMA)
    assert out["variants"] and out["decode"]["audio_sample_rate"] == 16000  # defaults filled
    assert out["decode"]["frame_size"] == (299 if "mgn_ma" in name else 224)


def test_tpf_configs_state_the_code_they_reproduce():
    """The two TPF configs differ where the 2021 upload and the published code differ
    (docs/fidelity.md)."""
    load = lambda n: validate_config(  # noqa: E731
        yaml.safe_load((REPO / "configs" / f"eev_tpf{n}.yaml").read_text()), SCHEMA)
    old, new = load(2021), load(2022)
    s_old = {v: variant_settings(old, v) for v in old["variants"]}
    s_new = {v: variant_settings(new, v) for v in new["variants"]}
    assert {s["model"]["positional_encoding"] for s in s_old.values()} == {"none"}
    assert sorted(s["model"]["stacks"] for s in s_old.values()) == [1, 2]
    assert {s["model"]["stacks"] for s in s_new.values()} == {2}
    assert {s["model"]["dropout"] for s in s_new.values()} == {0.0}
    for s in [*s_old.values(), *s_new.values()]:
        assert s["model"]["init"] == "normal_0.01" and not s["model"]["weight_norm"]
        assert (s["training"]["optimizer"], s["training"]["lr"], s["training"]["grad_accum"],
                s["training"]["momentum"]) == ("sgd", 0.005, 32, 0.0)
    t_old, t_new = old["training_defaults"], new["training_defaults"]
    assert (t_old["selection"], t_old["val_rows"], t_old["target_scale"]) == ("last", "detected", 1.0)
    assert (t_new["selection"], t_new["val_rows"], t_new["target_scale"]) == ("swa", "all", 10.0)
    assert (t_new["swa_start"], t_new["swa_update"], t_new["row_dropout"]) == (15, "epoch_start", 0.3)
    assert old["decode"]["frame_sampling"] == new["decode"]["frame_sampling"] == "tpf_linspace"


def test_a_variants_own_block_does_not_reset_the_defaults_blocks(cfg):
    """A variant that sets one training (or model) key keeps every other key of
    training_defaults (model_defaults.<type>), not the class defaults."""
    cfg["variants"]["shuffled_control"]["training"] = {"shuffle_labels": True}
    cfg["variants"]["shuffled_control"]["model"] = {"dropout": 0.1}
    out = validate_config(cfg, SCHEMA)
    assert out["variants"]["shuffled_control"]["training"] == {"shuffle_labels": True}
    s = variant_settings(out, "shuffled_control")
    for key, value in cfg["training_defaults"].items():
        assert s["training"][key] == value, key
    for key, value in cfg["model_defaults"]["tcn"].items():
        assert s["model"][key] == (0.1 if key == "dropout" else value), key
    assert s["training"]["shuffle_labels"] is True and s["model"]["dropout"] == 0.1
