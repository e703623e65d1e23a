"""Classes use only each other's public members (issue 11: checkout, columns and metadata
reached into each other's private attributes about 58 times).

Every module of every layer (hangar_git/<layer>/) is parsed with ``ast`` and each ``x._name`` is checked,
where ``x`` is not ``self``, ``cls`` or ``super()``: it is allowed only when ``_name`` is
defined in the same module (a method, a property, a class attribute or a ``self._name = ...``
assignment there): private means private to its module, as Python's convention has it for
module names, so a module's functions may work on the objects its classes make (e.g.
``column_reads.read_samples`` on several columns), while another module must use their public
methods. Dunder names (``__reduce__``) are public, and so are the standard library's documented
private-looking functions (``os._exit``, the way to leave a forked child).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "hangar_git"
LAYERS = ("storage", "bookkeeping", "core", "transport", "api", "cli")
PACKAGES = (*LAYERS, "errors")
"""Every subpackage: the layers, and the exception tree every layer imports."""
STDLIB_PRIVATE = {"os._exit", "sys._getframe"}


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def defined_here(tree: ast.Module) -> set[str]:
    """Private names this module defines on its classes and objects."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _private(node.name):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                targets = (item.targets if isinstance(item, ast.Assign)
                           else [item.target] if isinstance(item, ast.AnnAssign) else [])
                names.update(t.id for t in targets if isinstance(t, ast.Name) and _private(t.id))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and _private(node.attr):
            if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                names.add(node.attr)
    return names


def _is_own(value: ast.expr) -> bool:
    if isinstance(value, ast.Name) and value.id in ("self", "cls"):
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super"


def _is_stdlib(node: ast.Attribute) -> bool:
    return ast.unparse(node) in STDLIB_PRIVATE


def foreign_private_access(path: Path, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    mine = defined_here(tree)
    found = sorted((node.lineno, node.col_offset, ast.unparse(node)) for node in ast.walk(tree)
                   if isinstance(node, ast.Attribute) and _private(node.attr) and not _is_own(node.value)
                   and node.attr not in mine and not _is_stdlib(node))
    return [f"{path.relative_to(root).as_posix()}:{line}: {text}" for line, _, text in found]


def violations(root: Path) -> list[str]:
    return [v for path in sorted(root.rglob("*.py")) for v in foreign_private_access(path, root)]


@pytest.mark.parametrize("layer", PACKAGES)
def test_modules_use_each_others_public_members_only(layer: str) -> None:
    assert violations(PACKAGE / layer) == []


def test_every_layer_is_checked() -> None:
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()} == set(PACKAGES)


def test_the_check_finds_planted_access(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text(
        "class A:\n"
        "    _kind = 1\n"
        "    def __init__(self, b):\n"
        "        self._b = b\n"
        "        self._b._secret()\n"          # another module's private method, through self
        "    def _helper(self):\n"
        "        return self._kind\n"
        "def friend(a, other):\n"
        "    return a._b, a._helper(), a.__reduce__(), other._store, super()._x\n")
    (tmp_path / "b.py").write_text("def f(a):\n    return a._b\n")
    assert violations(tmp_path) == [
        "a.py:5: self._b._secret",
        "a.py:9: other._store",
        "b.py:2: a._b",
    ]


@pytest.mark.parametrize("source", ["x._y = 1\n", "def f(x):\n    return x._co._store\n"])
def test_assignments_and_chains_count(tmp_path: Path, source: str) -> None:
    (tmp_path / "m.py").write_text(source)
    assert violations(tmp_path)
