"""`snakemake --report report.html` after a tiny finished run, opened in headless Chromium
(Debian's `chromium`; `make report-browser` installs it): the page renders its categories and
captions, every embedded PNG decodes in the browser, and the report's own navigation shows one.

Without chromium the test is skipped, unless CI is set: then it fails (.ci/run installs it)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from test_workflow import REPO, run_workflow, snakemake

pytestmark = pytest.mark.integration

PROBE = Path(__file__).with_name("report_probe.js")
CATEGORIES = ["1. Scores", "2. Training", "3. Predictions", "4. Data", "5. Configuration"]


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("chromium is missing (CI is set): run `make report-browser` as root")
    pytest.skip("chromium is not installed (Debian: `make report-browser` or "
                "`sudo apt-get install chromium`)")


def report_config() -> dict:
    """A small run: one audio extractor, a TCN and a ridge model, 4 + 2 + 2 short videos."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["demo"].update(n_train=4, n_val=2, n_test=2, min_seconds=8, max_seconds=10, seed=5)
    cfg["n_shards"] = 1
    cfg["extractors"] = {"logmel64": cfg["extractors"]["logmel64"]}
    cfg["model_defaults"]["tcn"]["channels"] = 16
    cfg["training_defaults"]["epochs"] = 6
    cfg["variants"] = {
        "tcn_audio": {"features": ["logmel64"], "model": {"stacks": 1}},
        "linear_audio": {"features": ["logmel64"], "model": {"type": "linear"}},
    }
    cfg["ensembles"] = {}
    cfg["paper_tables"] = {}
    cfg["report"] = {"curve_videos": 2, "thumbnails": 4}
    return cfg


@pytest.fixture(scope="module")
def report(chromium, tmp_path_factory):
    workdir, cfg = run_workflow(tmp_path_factory.mktemp("report"), report_config())
    proc = snakemake(workdir, "--report", "report.html")
    assert proc.returncode == 0, proc.stderr[-6000:]
    return workdir, cfg


def browse(chromium: str, url: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--virtual-time-budget=10000", *args, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def embedded(html: str, name: str) -> dict:
    """The report's ``var <name> = {...};`` data (results, categories)."""
    m = re.search(rf"var {name} = (\{{.*?\}});\n", html, re.S)
    assert m, f"no {name} in the report"
    return json.loads(m.group(1))


def test_the_run_draws_the_report_figures_and_pages(report):
    workdir, cfg = report
    out = workdir / "results" / "report"
    for name, size in (("pearson.png", (1400, 780)), ("training.png", (1200, 460))):
        with Image.open(out / name) as image:
            assert image.size == size
    curves = sorted(p.name for p in (out / "curves").glob("*.png"))
    assert len(curves) == cfg["report"]["curve_videos"]  # of the test split's 2 videos
    # the best model by test M_rho, named in each plot's title, is the score table's best
    scores = (workdir / "results" / "scores" / "scores.csv").read_text()
    assert "tcn_audio" in scores and "linear_audio" in scores
    assert yaml.safe_load((out / "config.yaml").read_text())["report"] == cfg["report"]
    page = (out / "scores.html").read_text()
    assert "<table>" in page and "<th>val M_rho</th>" in page and "linear_audio" in page
    # nothing reruns: the report() wrapping and the new rules leave the run complete
    proc = snakemake(workdir, "-n")
    assert proc.returncode == 0 and "Nothing to be done" in proc.stdout + proc.stderr, (
        proc.stdout[-3000:])


def test_report_renders_in_chromium_with_its_images(report, chromium, tmp_path):
    workdir, cfg = report
    html = (workdir / "report.html").read_text()
    results = embedded(html, "results")
    assert set(embedded(html, "categories")) == set(CATEGORIES)
    pngs = {p: r for p, r in results.items() if r["mime_type"] == "image/png"}
    assert {"results/report/pearson.png", "results/report/training.png"} <= set(pngs)
    assert sum("/curves/" in p for p in pngs) == cfg["report"]["curve_videos"]

    # the main page as the browser renders it: the menu's categories and the workflow caption
    dom = browse(chromium, (workdir / "report.html").as_uri(), "--dump-dom").stdout
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", dom, flags=re.S))
    for category in CATEGORIES:
        assert category in text
    assert "reproducing the" in text and "challenge winner" in text  # report/workflow.rst
    shot = tmp_path / "main.png"
    browse(chromium, (workdir / "report.html").as_uri(), "--window-size=1400,900",
           f"--screenshot={shot}")
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (900, 1400, 3)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50  # text, menu and rule graph

    # in the browser: every embedded PNG decodes, and clicking a category and a curve plot's
    # entry shows that plot
    curve = sorted(p for p in pngs if "/curves/" in p)[0]
    probe = PROBE.read_text().replace(
        "PROBE_TARGET", json.dumps(["3. Predictions", None, Path(curve).name]))
    i = html.rfind("</body>")
    probed = tmp_path / "probed.html"
    probed.write_text(html[:i] + f"<script>{probe}</script>" + html[i:])
    dom = browse(chromium, probed.as_uri(), "--dump-dom").stdout
    m = re.search(r'<pre id="eevflow-probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe did not run"
    found = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert found["errors"] == []
    assert found["menu"] == found["categories"]  # each category is in the rendered menu
    for path in pngs:
        with Image.open(io.BytesIO((workdir / path).read_bytes())) as image:
            assert found["decoded"][path] == list(image.size)
    with Image.open(workdir / curve) as image:
        width, height = image.size
    assert found["shown"] == {"complete": True, "width": width, "height": height, "src_of": curve}

    # a page result (the score tables) renders as a table in the browser too
    dom = browse(chromium, (workdir / "results/report/scores.html").as_uri(), "--dump-dom").stdout
    assert "<th>model</th>" in dom and "linear_audio" in dom
