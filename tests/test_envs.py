"""The conda env file of the rules pins exactly what requirements.txt pins."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _pins(lines):
    out = {}
    for line in lines:
        line = line.split("#")[0].strip()
        if line:
            name, _, version = re.split(r"(==)", line, maxsplit=1)
            out[name.strip().lower()] = version.strip()
    return out


def test_env_file_pins_the_same_versions():
    req = _pins((REPO / "requirements.txt").read_text().splitlines())
    env = yaml.safe_load((REPO / "envs" / "eevflow.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert _pins(pip) == req
    assert all(v for v in req.values()), "every requirement is pinned with =="
    assert "torch" in req and req["torch"] == "2.13.0"


def test_no_deps_pins_match_the_post_deploy_script():
    nodeps = _pins((REPO / "requirements-nodeps.txt").read_text().splitlines())
    script = (REPO / "envs" / "eevflow.post-deploy.sh").read_text()
    installed = dict(re.findall(r"([A-Za-z0-9_.-]+)==([0-9][^\s]*)", script))
    assert {k.lower(): v for k, v in installed.items()} == nodeps
    assert "--no-deps" in script
    assert nodeps.keys().isdisjoint(_pins((REPO / "requirements.txt").read_text().splitlines()))
