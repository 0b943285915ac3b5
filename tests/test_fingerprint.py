"""Code fingerprints (eevflow/fingerprint.py): what they cover and what changes them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from eevflow import fingerprint as fp
from eevflow.features.options import BACKENDS, backend_options

PKG = Path(fp.__file__).resolve().parent


@pytest.fixture
def pkg(tmp_path):
    """A copy of the package to edit."""
    dest = tmp_path / "eevflow"
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_closure_follows_module_level_imports_only():
    used = fp.modules_used("eevflow.training")
    assert {"eevflow.training", "eevflow.inference", "eevflow.sequences", "eevflow.models",
            "eevflow.models.options", "eevflow.metrics", "eevflow.shards"} <= set(used)
    # the family's module is loaded through the registry: the train rule names it (model_code)
    assert "eevflow.models.tcn" not in used
    assert "eevflow" not in used  # the version string is not code a job runs
    logmel = set(fp.modules_used("eevflow.features.logmel"))
    # backends() imports every backend inside a function: not followed
    assert "eevflow.features.efficientnet_lite" not in logmel
    assert "eevflow.features.logmel" in set(fp.modules_used("eevflow.features.musicnn_tagger"))
    decode = set(fp.modules_used("eevflow.decoded_shard"))
    assert "eevflow.download" not in decode  # decoding does not load the downloader (yt-dlp)
    assert {"eevflow.decoding", "eevflow.streams", "eevflow.ids"} <= decode


def test_docstrings_comments_and_formatting_do_not_count(pkg):
    before = fp.code_fingerprint("eevflow.models.tcn", package_dir=pkg)
    path = pkg / "models" / "tcn.py"
    text = path.read_text()
    end = text.index('"""', text.index('"""') + 3)
    edited = text[:end] + "\nMore words.\n" + text[end:] + "\n# a trailing comment\n\n\n"
    path.write_text(edited)
    fp._module_digest.cache_clear()
    assert fp.code_fingerprint("eevflow.models.tcn", package_dir=pkg) == before
    path.write_text(edited + "\ndef _unused():\n    return 0\n")
    assert fp.code_fingerprint("eevflow.models.tcn", package_dir=pkg) != before


def test_an_imported_module_changes_its_importers(pkg):
    before = {m: fp.code_fingerprint(m, package_dir=pkg)
              for m in ("eevflow.training", "eevflow.report", "eevflow.submission")}
    metrics = pkg / "metrics.py"
    metrics.write_text(metrics.read_text() + "\nEXTRA = 1\n")
    after = {m: fp.code_fingerprint(m, package_dir=pkg) for m in before}
    assert after["eevflow.training"] != before["eevflow.training"]  # training imports metrics
    assert after["eevflow.report"] != before["eevflow.report"]
    assert after["eevflow.submission"] == before["eevflow.submission"]


def test_entries_order_and_repeats_do_not_matter():
    a = fp.code_fingerprint("eevflow.report", "eevflow.past_end")
    assert a == fp.code_fingerprint("eevflow.past_end", "eevflow.report", "eevflow.report")
    assert len(a) == 16 and int(a, 16) >= 0


def test_bad_names_are_errors():
    with pytest.raises(ValueError, match="not an eevflow module"):
        fp.module_file("numpy")
    with pytest.raises(ValueError, match="no module 'eevflow.nope'"):
        fp.code_fingerprint("eevflow.nope")
    with pytest.raises(ValueError, match="unknown extractor backend 'vggish'"):
        backend_options("vggish")


def test_backend_modules_match_the_backend_classes():
    """Each options class names the module whose Extractor class uses it (the module an extract
    job's fingerprint counts)."""
    from eevflow.features import backends

    table = backends()
    assert set(table) == set(BACKENDS)
    for backend, cls in table.items():
        assert cls.__module__ == BACKENDS[backend].module
        assert cls.options_class is BACKENDS[backend]
