"""Every user error: one ``Error:`` line on stderr, exit code 1, no traceback
(usage errors: click's message, exit code 2)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import Files, Hangar, one_line_error


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    fragments: tuple[str, ...]
    setup: Callable[[Path, Hangar, Files], None] = lambda path, hangar, files: None


def committed(path: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", str(files / "a.npy"))
    hangar.ok("commit", "-m", "base")


def str_column(path: Path) -> None:
    with Repository(path).checkout(write=True) as co:
        co.add_str_column("names")


def write(name: str, data: bytes) -> Callable[[Path, Hangar, Files], None]:
    def setup(path: Path, hangar: Hangar, files: Files) -> None:
        (files / name).write_bytes(data)
    return setup


def vector_column(path: Path, hangar: Hangar, files: Files) -> None:
    """Column 'vec' of samples of shape (3,) (d.csv's rows), and w.npy, a 1-D array of 5 values."""
    hangar.ok("add", "vec", str(files / "d.csv"))
    np.save(files / "w.npy", np.arange(5, dtype=np.int64))
    np.save(files / "m.npy", np.zeros((2, 4), np.int64))


def npz(name: str, **arrays: np.ndarray) -> Callable[[Path, Hangar, Files], None]:
    def setup(path: Path, hangar: Hangar, files: Files) -> None:
        np.savez(files / name, **arrays)
    return setup


def both(*setups: Callable[[Path, Hangar, Files], None]) -> Callable[[Path, Hangar, Files], None]:
    def setup(path: Path, hangar: Hangar, files: Files) -> None:
        for each in setups:
            each(path, hangar, files)
    return setup


TWO_SHAPES = {"a": np.zeros((2, 3), np.float32), "b": np.zeros((4, 3), np.float32)}

CASES = [
    Case("unknown-branch-checkout", ("checkout", "nope"), ("branch 'nope' does not exist",),
         committed),
    Case("unknown-branch-log", ("log", "nope"), ("no branch or commit named 'nope'",), committed),
    Case("unknown-branch-export", ("export", "imgs", "out", "--branch", "nope"), ("'nope'",),
         committed),
    Case("unknown-branch-delete", ("branch", "-d", "nope"), ("does not exist",), committed),
    Case("unknown-commit", ("summary", "--commit", "deadbeef"), ("no branch or commit named 'deadbeef'",),
         committed),
    Case("unknown-diff-ref", ("diff", "nope"), ("no branch or commit named 'nope'",), committed),
    Case("unknown-column-export", ("export", "nope", "out"), ("column 'nope' does not exist",),
         committed),
    Case("invalid-branch-name", ("branch", "a..b"), ("invalid branch name",), committed),
    Case("branch-exists", ("branch", "master"), ("already exists",), committed),
    Case("branch-before-commit", ("branch", "dev"), ("no commits yet",)),
    Case("delete-write-branch", ("branch", "-d", "master"), ("is the write branch",), committed),
    Case("wrong-shape", ("add", "imgs", "{files}/wrong_shape.npy"),
         ("wrong_shape.npy", "expects shape (2, 3), got (4,)"), committed),
    Case("wrong-dtype", ("add", "imgs", "{files}/d.csv", "--dtype", "float64"),
         ("d.csv line 1: column 'imgs' expects dtype float32, got float64",), committed),
    Case("bad-cast", ("add", "ints", "{files}/a.npy", "--dtype", "int32"),
         ("cannot cast float32 to int32",)),
    Case("missing-file", ("add", "imgs", "{files}/a.npy", "{files}/nope.npy"),
         ("nope.npy", "no such file")),
    Case("directory-of-nothing", ("add", "imgs", "{files}/empty"), ("empty", "holds no file"),
         lambda path, hangar, files: (files / "empty").mkdir()),
    Case("unknown-type", ("add", "imgs", "{files}/notes.doc"), ("unknown file type",),
         write("notes.doc", b"hi")),
    # CSV places are lines as an editor numbers them: from 1, the header and blank lines counted
    Case("unreadable-csv-text", ("add", "c", "{files}/bad.csv"), ("bad.csv line 2: cannot parse 'abc'",),
         write("bad.csv", b"1,2\n3,abc\n")),
    Case("unreadable-csv-after-header-and-blank-line", ("add", "c", "{files}/bad.csv", "--header"),
         ("bad.csv line 4: cannot parse 'x'",), write("bad.csv", b"p,q\n1,2\n\n3,x\n")),
    Case("unreadable-csv-first-line", ("add", "c", "{files}/bad.csv"), ("bad.csv line 1: cannot parse 'p'",
                                                                         "--header"),
         write("bad.csv", b"p,q\n1,2\n")),
    Case("csv-str-row-after-quoted-newlines", ("add", "c", "{files}/s.csv", "--dtype", "str"),
         ("s.csv line 5: has 2 fields",), write("s.csv", b'"a\nb"\n"c\nd"\ne,f\n')),
    Case("csv-bad-quoting", ("add", "c", "{files}/q.csv"), ("q.csv line 2",),
         write("q.csv", b'1,2\n"3"x,4\n')),
    Case("csv-empty-key", ("add", "c", "{files}/k.csv", "--key-column", "0"), ("k.csv line 2: the key column is empty",),
         write("k.csv", b"a,1\n,2\n")),
    Case("csv-wrong-shape-bulk", ("add", "imgs", "{files}/h.csv", "--header"),
         ("h.csv line 3: column 'imgs' expects shape (2, 3), got (2,)",),
         both(committed, write("h.csv", b"p,q\n\n1,2\n3,4\n"))),
    Case("csv-wrong-shape-row-by-row", ("add", "imgs", "{files}/h.csv", "--header", "--key-from", "name"),
         ("h.csv line 3: column 'imgs' expects shape (2, 3), got (2,)",),
         both(committed, write("h.csv", b"p,q\n\n1,2\n3,4\n"))),
    Case("unreadable-csv-binary", ("add", "c", "{files}/bin.csv"), ("bin.csv",),
         write("bin.csv", b"\xff\xfe\x00garbage\x81")),
    Case("csv-bad-key-column", ("add", "c", "{files}/d.csv", "--key-column", "id"),
         ("no key column 'id'",)),
    Case("csv-key-column-out-of-range", ("add", "c", "{files}/d.csv", "--key-column", "7"),
         ("d.csv line 1: has no column 7",)),
    Case("not-npy", ("add", "c", "{files}/fake.npy"), ("fake.npy", "as .npy"),
         write("fake.npy", b"not an array")),
    Case("not-npz", ("add", "c", "{files}/fake.npz"), ("fake.npz", "as .npz"),
         write("fake.npz", b"PK\x03\x04 nope")),
    Case("truncated-npy", ("add", "c", "{files}/cut.npy"), ("cut.npy",),
         lambda path, hangar, files: (files / "cut.npy").write_bytes(
             (files / "a.npy").read_bytes()[:-5])),
    Case("empty-csv-new-column", ("add", "c", "{files}/empty.csv"), ("no samples",),
         write("empty.csv", b"")),
    Case("duplicate-keys", ("add", "c", "{files}/d.csv", "{files}/d.csv"), ("used twice",)),
    Case("key-from-row-on-files", ("add", "c", "{files}/a.npy", "--key-from", "row"),
         ("needs row imports",)),
    Case("rows-of-a-scalar", ("add", "c", "{files}/scalar.npy", "--rows"), ("scalar",),
         lambda path, hangar, files: np.save(files / "scalar.npy", np.float32(1))),
    # --rows of a 1-D array: scalar samples, which a column of shape (3,) does not take
    Case("rows-of-a-1d-array", ("add", "vec", "{files}/w.npy", "--rows"),
         ("w.npy holds an array of shape (5,)", "samples of shape ()", "column 'vec' takes samples of shape (3,)",
          "--rows needs an array of shape (N, 3)"), vector_column),
    Case("rows-of-a-1d-array-row-by-row", ("add", "vec", "{files}/w.npy", "--rows", "--key-from", "name"),
         ("w.npy holds an array of shape (5,)", "samples of shape ()", "column 'vec' takes samples of shape (3,)",
          "--rows needs an array of shape (N, 3)"), vector_column),
    Case("rows-of-other-length", ("add", "vec", "{files}/m.npy", "--rows"),
         ("m.npy holds an array of shape (2, 4)", "samples of shape (4,)", "--rows needs an array of shape (N, 3)"),
         vector_column),
    # samples of several shapes into a fixed-shape column: --variable-shape makes one that takes them
    Case("npz-of-two-shapes-new-column", ("add", "z", "{files}/two.npz"),
         ("two.npz:b: column 'z' expects shape (2, 3), got (4, 3)", "add again with --variable-shape"),
         npz("two.npz", **TWO_SHAPES)),
    Case("npz-of-two-shapes-existing-column", ("add", "imgs", "{files}/two.npz"),
         ("two.npz:b: column 'imgs' expects shape (2, 3), got (4, 3)", "fixed shape",
          "create a column with --variable-shape"), both(committed, npz("two.npz", **TWO_SHAPES))),
    Case("npz-of-two-ranks", ("add", "z", "{files}/ranks.npz"), ("ranks.npz:b", "got (4,)"),
         npz("ranks.npz", a=np.zeros((2, 3)), b=np.zeros(4))),
    Case("bad-dtype", ("add", "c", "{files}/d.csv", "--dtype", "notadtype"), ("unknown dtype",)),
    Case("existing-column-other-shape", ("add", "imgs", "{files}/a.npy", "--shape", "5"),
         ("exists with shape (2, 3)",), committed),
    Case("add-to-a-str-column", ("add", "names", "{files}/a.npy"), ("holds str samples",),
         lambda path, hangar, files: str_column(path)),
    Case("variable-shape-on-a-fixed-column", ("add", "imgs", "{files}/a.npy", "--variable-shape"),
         ("exists with a fixed shape",), committed),
    Case("nothing-to-commit", ("commit", "-m", "x"), ("nothing to commit",)),
    Case("merge-unknown", ("merge", "master", "nope", "-m", "x"), ("'nope'",), committed),
    Case("unknown-remote", ("fetch", "origin", "master"), ("no remote named 'origin'",)),
    Case("clone-unreachable", ("clone", "{files}/nowhere", "{files}/c"), ("nowhere",)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_user_error_is_one_line(case: Case, repo_dir: Path, hangar: Hangar, files: Files) -> None:
    case.setup(repo_dir, hangar, files)
    args = [a.format(files=files.root) for a in case.args]
    one_line_error(hangar(*args), *case.fragments)


@pytest.mark.parametrize("args", [
    ("status",), ("add", "imgs", "x.npy"), ("commit", "-m", "x"), ("log",), ("branch",),
    ("summary",), ("diff",), ("export", "imgs", "out"), ("remote",), ("checkout", "dev"),
], ids=lambda a: a[0])
def test_not_initialised(tmp_path: Path, args: tuple[str, ...]) -> None:
    one_line_error(Hangar(tmp_path)(*args), "no hangar repository", "git hangar init")


def test_initialised_git_repo_without_hangar(tmp_path: Path) -> None:
    import subprocess
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "sub").mkdir()
    one_line_error(Hangar(tmp_path / "sub")("status"), str(tmp_path), "git hangar init")


@pytest.mark.parametrize("args", [
    ("add",), ("add", "col"), ("add", "c", "f.csv", "--key-column", "0", "--key-from", "name"),
    ("add", "c", "f.csv", "--key-from", "bogus"), ("add", "c", "f.csv", "--delimiter", ";;"),
    ("add", "c", "f.npy", "--shape", "3,y"), ("export", "c", ".git/HEAD"), ("merge", "a", "b", "c"), ("merge",),
    ("rm", "c"), ("rm", "c", "k", "--column"), ("show", "master", "-o", "x.npy"), ("fetch", "r", "--all"), ("push", "r", "--delete"),
    ("branch", "-d"), ("branch", "--base", "x"), ("checkout", "x", "--base", "y"),
    ("export", "c", "o", "--branch", "a", "--commit", "b"), ("export", "c", "o", "--format", "tif"),
    ("log", "a", "--commit", "b"), ("log", "--all", "a"),
    ("fetch-data", "r", "b", "--commit", "c"), ("fetch-data", "r", "--max-bytes", "lots"),
    ("nosuchcommand",),
], ids=lambda a: " ".join(a))
def test_usage_errors_exit_2(repo_dir: Path, hangar: Hangar, args: tuple[str, ...]) -> None:
    result = hangar(*args)
    assert result.exit_code == 2, result.output
    assert "Error:" in result.stderr and "Traceback" not in result.output


def test_merge_conflict_lists_the_conflicts(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    committed(repo_dir, hangar, files)
    hangar.ok("branch", "dev")
    np.save(files / "a.npy", files.b)
    hangar.ok("add", "imgs", str(files / "a.npy"))
    hangar.ok("commit", "-m", "master changes a")
    hangar.ok("checkout", "dev")
    np.save(files / "a.npy", files.b * 2)
    hangar.ok("add", "imgs", str(files / "a.npy"))
    hangar.ok("commit", "-m", "dev changes a")
    result = hangar("merge", "master", "dev", "-m", "conflict")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: merge has")
    assert "Traceback" not in result.output
