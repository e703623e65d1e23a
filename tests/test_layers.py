"""Layer guard, in the spirit of dulwich's tests/test_source.py.

Every module under hangar_git/ is parsed with ``ast`` (nothing is imported)
and each import is checked against the rules below:

* third-party libraries stay inside the layer that wraps them: click in
  cli/, paramiko in transport/, pygit2 in bookkeeping/, tiledb and blosc2 in
  storage/;
* imports between layers flow downward, storage -> bookkeeping -> core ->
  transport -> api -> cli: each imports nothing from the layers after it;
* below cli/, nothing imports from the package root (``hangar_git/__init__``
  re-exports the api, so ``from hangar_git import Repository`` in storage
  would be an upward import in disguise).  Top-level modules such as
  ``hangar_git/errors/`` are importable by every layer.

Imports inside functions and ``if TYPE_CHECKING:`` blocks count too.
"""
from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Iterator

import pytest

PACKAGE = "hangar_git"
PACKAGE_DIR = Path(__file__).resolve().parent.parent / PACKAGE
LAYERS = ("storage", "bookkeeping", "core", "transport", "api", "cli")


@dataclasses.dataclass(frozen=True)
class Import:
    """One imported module, absolute, as seen in one source file."""

    module: str      # e.g. "hangar_git.storage.objects", "numpy"
    path: Path       # the importing file
    lineno: int

    def __str__(self) -> str:
        return f"{self.path}:{self.lineno} imports {self.module}"


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    layers: tuple[str | None, ...]  # where it applies; None = top-level modules
    forbidden: tuple[str, ...]   # module prefixes they must not import

    def violated_by(self, imp: Import, layer: str | None) -> bool:
        return layer in self.layers and any(
            imp.module == bad or imp.module.startswith(bad + ".") for bad in self.forbidden)


def others(*owners: str) -> tuple[str | None, ...]:
    """Every place a module can live in, except the owners: the layers and
    the package's top-level modules (layer None)."""
    return tuple(layer for layer in (*LAYERS, None) if layer not in owners)


def pkg(*layers: str) -> tuple[str, ...]:
    return tuple(f"{PACKAGE}.{layer}" for layer in layers)


RULES = [
    Rule("click-only-in-cli", others("cli"), ("click",)),
    Rule("paramiko-only-in-transport", others("transport"), ("paramiko",)),
    Rule("pygit2-only-in-bookkeeping", others("bookkeeping"), ("pygit2",)),
    Rule("tiledb-blosc2-only-in-storage", others("storage"), ("tiledb", "blosc2")),
    Rule("storage-imports-no-upper-layer", ("storage",), pkg("bookkeeping", "core", "transport", "api", "cli")),
    Rule("bookkeeping-imports-no-upper-layer", ("bookkeeping",), pkg("core", "transport", "api", "cli")),
    Rule("core-imports-no-upper-layer", ("core",), pkg("transport", "api", "cli")),
    Rule("transport-imports-no-api-or-cli", ("transport",), pkg("api", "cli")),
    Rule("api-imports-no-cli", ("api",), pkg("cli")),
]


# -- reading imports ----------------------------------------------------------
def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package_file(path: Path) -> bool:
    return path.name == "__init__.py"


def resolve_relative(module: str | None, level: int, importer: str, is_pkg: bool) -> str:
    base = importer.split(".")
    if not is_pkg:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def imports_of(path: Path, root: Path) -> Iterator[Import]:
    """Every module *path* imports, made absolute.  ``from X import name``
    yields ``X.name`` when that is a submodule under *root*, else ``X``."""
    importer = module_name(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = (resolve_relative(node.module, node.level, importer, is_package_file(path))
                    if node.level else node.module or "")
            for alias in node.names:
                yield Import(submodule_or_base(base, alias.name, root), path, node.lineno)


def submodule_or_base(base: str, name: str, root: Path) -> str:
    if base == root.name or base.startswith(root.name + "."):
        target = root.parent.joinpath(*base.split("."), name)
        if target.with_suffix(".py").is_file() or (target / "__init__.py").is_file():
            return f"{base}.{name}"
    return base


def layer_of(path: Path, root: Path) -> str | None:
    """The layer a file belongs to; None for top-level modules."""
    parts = path.relative_to(root).parts
    return parts[0] if len(parts) > 1 and parts[0] in LAYERS else None


def violations(rule: Rule, root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        layer = layer_of(path, root)
        for imp in imports_of(path, root):
            if rule.violated_by(imp, layer):
                found.append(str(Import(imp.module, path.relative_to(root.parent), imp.lineno)))
    return found


def root_imports(root: Path) -> list[str]:
    """Layers other than cli importing the package root (the api facade)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        layer = layer_of(path, root)
        if layer is None or layer == "cli":
            continue
        for imp in imports_of(path, root):
            if imp.module == root.name:
                found.append(f"{path.relative_to(root.parent)}:{imp.lineno} imports "
                             f"from the {root.name} package root; import the submodule")
    return found


# -- the guard ------------------------------------------------------------------
def test_the_package_has_its_layers() -> None:
    for layer in LAYERS:
        assert (PACKAGE_DIR / layer / "__init__.py").is_file(), layer


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_layer_rule(rule: Rule) -> None:
    assert violations(rule, PACKAGE_DIR) == []


def test_layers_below_cli_do_not_import_the_package_root() -> None:
    assert root_imports(PACKAGE_DIR) == []


# -- the guard guards: it finds planted violations --------------------------------
PLANTED = {
    "__init__.py": "from .api import Repository\n",
    "errors.py": "class HangarError(Exception): ...\n",
    "storage/__init__.py": "",
    "storage/bad.py": (
        "import click\n"
        "from ..api import repo\n"
        "from .. import errors\n"          # fine: a top-level module
        "from hangar_git import Repository\n"
        "def f():\n"
        "    from hangar_git.transport.ssh import connect\n"
    ),
    "bookkeeping/__init__.py": "",
    "bookkeeping/ok.py": "import pygit2\nfrom ..storage import bad\n",
    "core/__init__.py": "",
    "core/repostore.py": "from ..bookkeeping import ok\nfrom ..transport import ssh\n",
    "transport/__init__.py": "",
    "transport/ssh.py": "import paramiko.client\nfrom . import ssh\n",
    "api/__init__.py": "from .. import cli\n",
    "api/repo.py": "from tiledb import Array\n",
    "cli/__init__.py": "import click\nfrom hangar_git import Repository\nfrom ..api import repo\n",
}

EXPECTED = {
    "click-only-in-cli": ["hangar_git/storage/bad.py:1 imports click"],
    "paramiko-only-in-transport": [],
    "pygit2-only-in-bookkeeping": [],
    "tiledb-blosc2-only-in-storage": ["hangar_git/api/repo.py:1 imports tiledb"],
    "storage-imports-no-upper-layer": [
        "hangar_git/storage/bad.py:2 imports hangar_git.api.repo",
        "hangar_git/storage/bad.py:6 imports hangar_git.transport.ssh",
    ],
    "bookkeeping-imports-no-upper-layer": [],
    "core-imports-no-upper-layer": ["hangar_git/core/repostore.py:2 imports hangar_git.transport.ssh"],
    "transport-imports-no-api-or-cli": [],
    "api-imports-no-cli": ["hangar_git/api/__init__.py:1 imports hangar_git.cli"],
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("planted") / PACKAGE
    for name, text in PLANTED.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_rule_catches_planted_violations(rule: Rule, planted: Path) -> None:
    assert violations(rule, planted) == EXPECTED[rule.id]


def test_root_import_is_caught(planted: Path) -> None:
    assert root_imports(planted) == [
        "hangar_git/storage/bad.py:4 imports from the hangar_git package root; "
        "import the submodule"]


@pytest.mark.parametrize(("module", "level", "importer", "is_pkg", "expected"), [
    ("objects", 1, "hangar_git.storage.base", False, "hangar_git.storage.objects"),
    (None, 2, "hangar_git.storage.base", False, "hangar_git"),
    ("api.repo", 2, "hangar_git.storage.base", False, "hangar_git.api.repo"),
    ("base", 1, "hangar_git.storage", True, "hangar_git.storage.base"),
    ("errors", 2, "hangar_git.storage", True, "hangar_git.errors"),
], ids=["sibling", "parent-package", "cousin", "from-package-init", "init-to-parent"])
def test_resolve_relative(module: str | None, level: int, importer: str, is_pkg: bool,
                          expected: str) -> None:
    assert resolve_relative(module, level, importer, is_pkg) == expected
