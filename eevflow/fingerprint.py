"""Code fingerprints: a rule's ``params: code=...`` names the package modules its job runs, so that
Snakemake's params trigger reruns a job when that code changes, and only then.

Snakemake sees a rule's own script, not the ``eevflow`` modules the script calls: without this,
editing ``models/tcn.py`` or a backend's preprocessing would retrain or re-extract nothing and
results would silently mix code versions. A fingerprint covers the named entry modules and every
``eevflow`` module they import at module level, transitively (not ``eevflow/__init__.py``, the
version string) (imports inside functions are not
followed: ``features.backends()`` loads every backend lazily, and an extract job runs one; list
such a dependency as an entry instead). Each module counts by the hash of its syntax tree without
docstrings (``ast.dump``), so comments, formatting and docstring edits change nothing, while any
change to what the code does changes it. Files are read, never imported (planning a DAG does not
load torch or TensorFlow). The entry modules of each rule are in ``rules/common.smk``
(``code_params``); README: "Code changes".
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The source file of ``eevflow.a.b`` (``a/b.py`` or ``a/b/__init__.py``) under the package."""
    parts = name.split(".")
    if parts[0] != "eevflow":
        raise ValueError(f"not an eevflow module: {name!r}")
    base = package_dir.joinpath(*parts[1:])
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    raise ValueError(f"no module {name!r} under {package_dir}")


class _NoDocstrings(ast.NodeTransformer):
    def _strip(self, node):
        self.generic_visit(node)
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
        return node

    visit_Module = visit_ClassDef = visit_FunctionDef = visit_AsyncFunctionDef = _strip


@functools.lru_cache(maxsize=None)
def _module_digest(path: str, mtime_ns: int) -> str:
    tree = _NoDocstrings().visit(ast.parse(Path(path).read_text(), filename=path))
    return hashlib.sha256(ast.dump(tree, include_attributes=False).encode()).hexdigest()


def module_digest(name: str, package_dir: Path = PACKAGE_DIR) -> str:
    path = module_file(name, package_dir)
    return _module_digest(str(path), path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=None)
def _imports(path: str, mtime_ns: int, is_package: bool, name: str) -> tuple[str, ...]:
    """``eevflow`` modules imported at module level (``import`` and ``from`` forms, relative ones
    resolved; ``from pkg import sub`` counts ``pkg.sub`` when it is a module)."""
    tree = ast.parse(Path(path).read_text(), filename=path)
    here = name if is_package else name.rpartition(".")[0]
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                base = ".".join(parent + ([base] if base else []))
            found.append(base)
            found += [f"{base}.{a.name}" for a in node.names]
    return tuple(m for m in found if m.startswith("eevflow."))


def modules_used(*entries: str, package_dir: Path = PACKAGE_DIR) -> list[str]:
    """The entry modules and every eevflow module they import at module level, transitively."""
    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            path = module_file(name, package_dir)
        except ValueError:
            if name in entries:
                raise
            continue  # a name imported from a module (a function, a class): not a module
        seen.add(name)
        todo += _imports(str(path), path.stat().st_mtime_ns, path.name == "__init__.py", name)
        parent = name.rpartition(".")[0]
        if parent != "eevflow":  # importing a.b runs a/__init__.py (eevflow's own holds only
            todo.append(parent)  # the version, which is not code a job runs)
    return sorted(seen)


def code_fingerprint(*entries: str, package_dir: Path = PACKAGE_DIR) -> str:
    """16 hex digits over the code of the entry modules and what they import (order and repeats
    of the entries do not matter)."""
    h = hashlib.sha256()
    for name in modules_used(*entries, package_dir=package_dir):
        h.update(f"{name}:{module_digest(name, package_dir)}\n".encode())
    return h.hexdigest()[:16]
