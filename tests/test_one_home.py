"""One home per concept (issue 11): each of these is spelled out in one module only
(raw <-> hex digest conversion has its own guard: tests/digests/test_conversions.py).

Every module under hangar_git/ is parsed with ``ast`` (nothing is imported) and searched
for what only the concept's home may contain:

* renaming a file over another (``os.replace``, ``os.rename``): fileio.py (atomic writes);
* ``hangar.*`` / ``hangar-remote.*`` / ``hangar-branch.*`` config key names: core/layout.py (and the few the layers
  below the core define themselves: bookkeeping/gitrepo.py, storage/s3config.py);
* the writer lock (``HeldLock``, ``writer.lock``): core/writerlock.py (and core/layout.py);
* the staging area's ref and format (``STAGING``, ``STAGING_MESSAGE``): core/staging.py;
* the ``git hangar fetch-data`` command a hint suggests: api/hints.py, which builds it from the
  repository's remotes and the branch (no REMOTE placeholder, none without a remote).

The planted-violation tests at the end show that each search finds what it looks for.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Callable, Iterator

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "hangar_git"
KEY = re.compile(r"^hangar(-remote|-branch)?\.[a-z]")
NOT_KEYS = {"hangar.json"}  # the record format's file in a commit tree, not a config key

Finder = Callable[[ast.AST], bool]


def _call_of(node: ast.AST, owner: str, attr: str) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr
            and isinstance(node.func.value, ast.Name) and node.func.value.id == owner)


def file_rename(node: ast.AST) -> bool:
    return _call_of(node, "os", "replace") or _call_of(node, "os", "rename")


def config_key(node: ast.AST) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and bool(KEY.match(node.value)) and node.value not in NOT_KEYS)


def writer_lock(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Name) and node.id == "HeldLock")
            or (isinstance(node, ast.Constant) and node.value == "writer.lock"))


def staging_ref(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Name) and node.id in ("STAGING", "STAGING_MESSAGE"))
            or (isinstance(node, ast.alias) and node.name in ("STAGING", "STAGING_MESSAGE"))
            or (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.endswith("/staging")))


def fetch_data_command(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return "hangar fetch-data" in node.value
    return isinstance(node, ast.List) and [getattr(e, "value", None) for e in node.elts[:3]] == [
        "git", "hangar", "fetch-data"]


HOMES: dict[str, tuple[Finder, set[str]]] = {
    "atomic-writes": (file_rename, {"fileio.py"}),
    "config-keys": (config_key, {"core/layout.py", "bookkeeping/refnames.py", "storage/s3config.py"}),
    "writer-lock": (writer_lock, {"core/writerlock.py", "core/layout.py", "locks.py"}),
    "staging-ref": (staging_ref, {"core/staging.py", "core/layout.py", "bookkeeping/refnames.py"}),
    "fetch-data-hint": (fetch_data_command, {"api/hints.py"}),
}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def occurrences(root: Path, found: Finder) -> Iterator[str]:
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if id(node) not in skip and found(node):
                yield f"{path.relative_to(root).as_posix()}:{getattr(node, 'lineno', '?')}"


def outside_home(root: Path, name: str) -> list[str]:
    found, homes = HOMES[name]
    return [where for where in occurrences(root, found) if where.split(":")[0] not in homes]


@pytest.mark.parametrize("name", sorted(HOMES))
def test_concept_lives_in_its_home(name: str) -> None:
    assert outside_home(PACKAGE_DIR, name) == []


@pytest.mark.parametrize("name", sorted(HOMES))
def test_home_holds_the_concept(name: str) -> None:
    found, homes = HOMES[name]
    assert {w.split(":")[0] for w in occurrences(PACKAGE_DIR, found)} & homes


PLANTED = '''"""Docstrings may say hangar.store, os.replace() and writer.lock."""
import os
from ..bookkeeping.gitrepo import STAGING
def f(git):
    os.replace("a", "b")
    return git.config_get("hangar.branch"), "writer.lock", STAGING, f"run `git hangar fetch-data REMOTE {git}`"
'''


def test_planted_violations_are_found(tmp_path: Path) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "bad.py").write_text(PLANTED)
    (tmp_path / "api" / "ok.py").write_text('FILE = "hangar.json"\n')
    assert {name: outside_home(tmp_path, name) for name in HOMES} == {
        "atomic-writes": ["api/bad.py:5"],
        "config-keys": ["api/bad.py:6"],
        "writer-lock": ["api/bad.py:6"],
        "staging-ref": ["api/bad.py:3", "api/bad.py:6"],
        "fetch-data-hint": ["api/bad.py:6"],
    }
