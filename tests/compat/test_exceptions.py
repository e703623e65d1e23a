"""Hangar 0.5 ``except`` clauses keep catching our errors: each derives from the
builtin Hangar raised, and from our own class."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest

import hangar_git
from hangar_git import Repository, errors
from hangar_git.errors import (BranchExistsError, BranchNotFoundError, CheckoutClosedError,
                               ColumnExistsError, DirtyStagingError, HangarError, InvalidKeyError,
                               MergeConflictError, NotInitializedError, NothingToCommitError,
                               PermissionDeniedError, ReadOnlyColumnError, RemoteExistsError,
                               RemoteNotFoundError, WriterLockError)


def test_second_writer_is_a_permission_error(committed: Repository) -> None:
    with committed.checkout(write=True):
        with pytest.raises(PermissionError) as info:
            committed.checkout(write=True)
    assert isinstance(info.value, WriterLockError)


def test_writes_through_a_closed_checkout(committed: Repository) -> None:
    co = committed.checkout(write=True)
    col = co.columns["a"]
    co.close()
    for write in (lambda: col.__setitem__(0, np.zeros(3)), lambda: co.add_str_column("n"),
                  lambda: co.commit("x"), lambda: col.update({1: np.zeros(3)}),
                  lambda: co.metadata.__setitem__("k", "v")):
        with pytest.raises(PermissionError):
            write()


def test_writes_through_a_read_checkout(committed: Repository) -> None:
    co = committed.checkout()
    col = co.columns["a"]
    with pytest.raises(TypeError) as info:
        col[0] = np.zeros(3)
    assert isinstance(info.value, PermissionError) and isinstance(info.value, ReadOnlyColumnError)
    with pytest.raises(TypeError):
        co["a", 0] = np.zeros(3)
    with pytest.raises(TypeError):
        del col[0]
    with pytest.raises(PermissionError):
        col.update({0: np.zeros(3)})
    with pytest.raises(PermissionError):
        co.metadata["k"] = "v"
    with pytest.raises(PermissionError):
        del co.columns["a"]


def test_duplicates(committed: Repository, tmp_path: Path) -> None:
    committed.create_branch("dev")
    with pytest.raises(ValueError) as info:
        committed.create_branch("dev")
    assert isinstance(info.value, BranchExistsError)
    committed.remote.add("origin", str(tmp_path / "x"))
    with pytest.raises(ValueError) as info:
        committed.remote.add("origin", str(tmp_path / "y"))
    assert isinstance(info.value, RemoteExistsError)
    with committed.checkout(write=True) as co:
        with pytest.raises(LookupError) as info:
            co.add_str_column("a")
        assert isinstance(info.value, ColumnExistsError)


def test_missing_branch_or_remote(committed: Repository) -> None:
    for call in (lambda: committed.remove_branch("nope"),
                 lambda: committed.merge("m", "master", "nope"),
                 lambda: committed.merge("m", "nope", "master"),
                 lambda: committed.checkout(branch="nope")):
        with pytest.raises(ValueError) as info:
            call()
        assert isinstance(info.value, BranchNotFoundError)
    with pytest.raises(ValueError) as info:
        committed.remote.remove("nope")
    assert isinstance(info.value, RemoteNotFoundError)


def test_runtime_errors(committed: Repository, tmp_path: Path) -> None:
    with committed.checkout(write=True) as co:
        with pytest.raises(RuntimeError) as info:
            co.commit("nothing")
        assert isinstance(info.value, NothingToCommitError)
        with pytest.raises(RuntimeError):
            co.reset_staging_area()
    committed.create_branch("dev")
    with committed.checkout(write=True) as co:
        co["s", 99] = "staged"
    with pytest.raises(RuntimeError) as info:
        committed.merge("m", "master", "dev")
    assert isinstance(info.value, DirtyStagingError)
    with pytest.warns(UserWarning):
        bare = Repository(tmp_path / "empty")
    with pytest.raises(RuntimeError) as info:
        bare.checkout()
    assert isinstance(info.value, NotInitializedError)


def test_writing_another_branch_over_staged_changes_is_a_value_error(committed: Repository) -> None:
    """Hangar 0.5 refused a write checkout of another branch while the staging area held changes
    with a ValueError ("Please commit or stash uncommitted changes"); ours is one too (and still
    the RuntimeError every state error is), and the staged change stays."""
    committed.create_branch("dev")
    with committed.checkout(write=True) as co:
        co["s", 99] = "staged"
    with pytest.raises(ValueError) as info:
        committed.checkout(write=True, branch="dev")
    assert isinstance(info.value, DirtyStagingError) and isinstance(info.value, RuntimeError)
    with committed.checkout(write=True) as co:
        assert co.branch_name == "master" and co["s", 99] == "staged"


def test_merge_conflict_is_a_value_error(committed: Repository) -> None:
    committed.create_branch("dev")
    for branch, text in (("master", "on master"), ("dev", "on dev")):
        with committed.checkout(write=True, branch=branch) as co:
            co["s", 0] = text
            co.commit(text)
    with pytest.raises(ValueError) as info:
        committed.merge("m", "master", "dev")
    assert isinstance(info.value, MergeConflictError) and info.value.conflicts


@pytest.mark.parametrize("bad", [1.5, None, b"k", ("a", 1), "", "a/b", 1 << 64])
def test_bad_keys(committed: Repository, bad: object) -> None:
    co = committed.checkout()
    col = co.columns["s"]
    with pytest.raises((KeyError, TypeError)) as info:
        col[bad]  # type: ignore[index]
    assert isinstance(info.value, HangarError)
    assert col.get(bad) is None and col.get(bad, "d") == "d"  # type: ignore[arg-type]
    assert bad not in col
    with committed.checkout(write=True) as wco:
        with pytest.raises((KeyError, TypeError)):
            wco.columns["s"][bad] = "v"  # type: ignore[index]


def test_invalid_key_error_is_both_key_and_type_error() -> None:
    exc = InvalidKeyError("invalid sample key 1.5")
    assert isinstance(exc, KeyError) and isinstance(exc, TypeError) and isinstance(exc, ValueError)
    assert str(exc) == "invalid sample key 1.5"  # not a KeyError's repr()


def test_closed_checkout_error_is_a_permission_error() -> None:
    assert issubclass(CheckoutClosedError, PermissionDeniedError)
    assert issubclass(PermissionDeniedError, PermissionError)


# -- the tree itself --------------------------------------------------------------------
GROUPS = (errors.NotFoundError, errors.MissingDataError, errors.AlreadyExistsError,
          errors.InvalidArgumentError, errors.StateError, errors.PermissionDeniedError,
          errors.ConflictError, errors.IntegrityError, errors.StoreNotFoundError, errors.RemoteError)


def test_every_error_belongs_to_one_group() -> None:
    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass)
               if issubclass(c, HangarError) and c is not HangarError]
    for cls in classes:
        groups = [g for g in GROUPS if issubclass(cls, g)]
        assert groups, f"{cls.__name__} is in no group"
    for name in hangar_git.__all__:
        assert hasattr(hangar_git, name)


ABSTRACT = {"HangarError", "NotFoundError", "AlreadyExistsError", "StateError", "ConflictError", "LockedError"}


def test_no_raise_of_a_group_base() -> None:
    """``raise HangarError(...)`` and friends tell a caller nothing about what to do."""
    root = Path(hangar_git.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                func = node.exc.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
                if name in ABSTRACT:
                    found.append(f"{path.relative_to(root)}:{node.lineno} raises {name}")
    assert not found, found
