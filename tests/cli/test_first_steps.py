"""What a new user meets first: an empty repository, typos, git's habits (`help`, `diff
--staged`, `show` alone), and messages that name the command line's own words."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hangar_git import Repository

from ..repos import new_repo
from .conftest import Files, Hangar, one_line_error

NO_COMMITS = "the write branch 'master' has no commits yet"


@pytest.mark.parametrize("args", [("ls",), ("ls", "HEAD"), ("ls", "master"), ("export", "imgs", "out"),
                                  ("show",), ("show", "master"),
                                  ("export", "imgs", "out", "--branch", "master")],
                         ids=" ".join)
def test_an_empty_repository_says_the_write_branch_has_no_commits_yet(repo_dir: Path, hangar: Hangar,
                                                                       args: tuple[str, ...]) -> None:
    one_line_error(hangar(*args), NO_COMMITS)


def test_an_empty_repository_in_the_api_says_no_commits_yet(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    with pytest.raises(ValueError, match=NO_COMMITS):
        repo.checkout()
    with pytest.raises(ValueError, match=NO_COMMITS):
        repo.checkout(branch="master")
    with pytest.raises(ValueError, match="branch 'other' does not exist"):
        repo.checkout(branch="other")


def committed(hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "arrays", files / "a.npy")
    hangar.ok("add", "images", files / "b.npy")
    hangar.ok("commit", "-m", "two columns")


def test_a_mistyped_remote_names_the_close_ones(repo_dir: Path, hangar: Hangar, files: Files,
                                                tmp_path: Path) -> None:
    committed(hangar, files)
    hangar.ok("init", "--bare", tmp_path / "server.git", cwd=tmp_path)
    hangar.ok("remote", "add", "origin", tmp_path / "server.git")
    error = one_line_error(hangar("push", "orign", "master"), "no remote named 'orign'", "did you mean 'origin'?")
    assert "remote add orign" not in error
    one_line_error(hangar("fetch", "orgin", "master"), "did you mean 'origin'?")
    far = one_line_error(hangar("push", "zzzz", "master"), "no remote named 'zzzz'", "remote add zzzz ADDRESS")
    assert "did you mean" not in far


def test_a_mistyped_column_names_the_close_ones_and_where_it_looked(repo_dir: Path, hangar: Hangar,
                                                                    files: Files, tmp_path: Path) -> None:
    committed(hangar, files)
    error = one_line_error(hangar("export", "arays", tmp_path / "out"), "column 'arays' does not exist on branch "
                           "'master'", "did you mean 'arrays'?")
    assert "this checkout" not in error
    error = one_line_error(hangar("show", "master", "imags"), "column 'imags' does not exist on branch 'master'",
                           "did you mean 'images'?")  # as named: `show` of a branch reads the branch
    assert "this checkout" not in error
    head = Repository(repo_dir).branch_head("master")
    one_line_error(hangar("show", head, "imags"), "column 'imags' does not exist in commit a=", "did you mean")
    one_line_error(hangar("ls", "HEAD", "arrrays"), "did you mean 'arrays'?")
    far = one_line_error(hangar("export", "zzzzz", tmp_path / "out"), "column 'zzzzz' does not exist")
    assert "did you mean" not in far
    error = one_line_error(hangar("metadata", "get", "nokey"), "no metadata key 'nokey'")
    assert "this checkout" not in error


def test_a_csv_parse_error_hints_at_header_and_dtype_str(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("x,y\n1,2\n3,4\n")
    (tmp_path / "s.csv").write_text("hello\nworld\n")
    header = one_line_error(hangar("add", "t", tmp_path / "t.csv"), "t.csv line 1: cannot parse 'x'", "--header")
    assert "--dtype str" in header
    hangar.ok("add", "t", tmp_path / "t.csv", "--header")
    later = one_line_error(hangar("add", "u", tmp_path / "s.csv"), "s.csv line 1", "--dtype str")
    assert "--header" in later  # line 1: could be a header
    (tmp_path / "late.csv").write_text("1\n2\nthree\n")
    later = one_line_error(hangar("add", "u", tmp_path / "late.csv"), "late.csv line 3", "--dtype str")
    assert "--header" not in later  # not the first line: no header to skip


def test_a_str_csv_imports_with_dtype_str(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    (tmp_path / "s.csv").write_text("hello\nworld, with a comma\n")
    (tmp_path / "s.csv").write_text('hello\n"world, with a comma"\n')
    hangar.ok("add", "s", tmp_path / "s.csv", "--dtype", "str")
    (tmp_path / "two.csv").write_text("a,b\n")
    one_line_error(hangar("add", "s2", tmp_path / "two.csv", "--dtype", "str"), "two.csv line 1", "one field")
    hangar.ok("commit", "-m", "texts")
    with Repository(repo_dir).checkout() as co:
        assert co["s"].column_type == "str"
        assert dict(co["s"].items()) == {0: "hello", 1: "world, with a comma"}


def test_exported_str_and_bytes_files_are_added_back(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    texts = {"a": "alpha", 1: "one\nline two", "é": "accent é"}
    blobs = {"x": b"\x00\x01\xff", 7: b"seven"}
    with Repository(repo_dir).checkout(write=True) as co:
        names = co.add_str_column("names")
        raw = co.add_bytes_column("raw")
        for key, text in texts.items():
            names[key] = text
        for key, blob in blobs.items():
            raw[key] = blob
        co.commit("texts and bytes")
    hangar.ok("export", "names", tmp_path / "n")
    hangar.ok("export", "raw", tmp_path / "r")
    hangar.ok("add", "names2", *sorted((tmp_path / "n").iterdir()))
    hangar.ok("add", "raw2", *sorted((tmp_path / "r").iterdir()))
    hangar.ok("add", "names", tmp_path / "n" / "a.txt")  # into the existing str column: nothing changes
    one_line_error(hangar("add", "raw", tmp_path / "n" / "a.txt"), "holds bytes samples")
    one_line_error(hangar("add", "names", tmp_path / "r" / "x.bin"), "holds str samples")
    hangar.ok("commit", "-m", "back")
    with Repository(repo_dir).checkout() as co:
        assert co["names2"].column_type == "str" and co["raw2"].column_type == "bytes"
        assert dict(co["names2"].items()) == texts
        assert dict(co["raw2"].items()) == blobs


def test_help_shows_a_commands_help_as_git_help_does(repo_dir: Path, hangar: Hangar) -> None:
    push = hangar.ok("help", "push").stdout
    assert push == hangar.ok("push", "--help").stdout
    assert push.startswith("Usage: ") and "push [OPTIONS]" in push and "REMOTE" in push
    assert "Commands:" in hangar.ok("help").stdout
    typo = hangar("help", "psuh")
    assert typo.exit_code == 2 and "did you mean 'push'" in typo.stderr, typo.stderr


def test_diff_staged_and_cached_show_the_staging_area_as_diff_does(repo_dir: Path, hangar: Hangar,
                                                                    files: Files) -> None:
    committed(hangar, files)
    hangar.ok("add", "arrays", files / "b.npy")
    plain = hangar.ok("diff").stdout
    assert "added: 'b'" in plain
    assert hangar.ok("diff", "--staged").stdout == plain
    assert hangar.ok("diff", "--cached").stdout == plain
    assert hangar("diff", "--staged", "master").exit_code == 2


def test_add_in_a_bare_repository_is_refused(tmp_path: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("init", "--bare", tmp_path / "srv.git", cwd=tmp_path)
    error = one_line_error(hangar("add", "imgs", files / "a.npy", cwd=tmp_path / "srv.git"), "bare repository")
    assert "clone" in error
    with Repository(tmp_path / "srv.git").checkout(write=True) as co:
        assert len(co.columns) == 0  # nothing was staged



def test_status_of_a_bare_repository_says_it_has_no_staging_area(pushed: Path, server: Path,
                                                                  hangar: Hangar) -> None:
    """Regression: status printed "On branch master ... -> staging area" where add said a bare
    repository "has no write branch"."""
    out = hangar.ok("status", cwd=server).stdout
    assert out.startswith("Bare repository: no write branch and no staging area") and "default branch master" in out
    assert "On branch" not in out and "staging area\n" not in out.split("\n", 1)[1]
    head = Repository(pushed).branch_head("master")
    assert f"Head: a={head} two arrays" in out
    assert json.loads(hangar.ok("status", "--json", cwd=server).stdout) == {
        "bare": True, "branch": "master", "head": head, "changes": None, "clean": True}


def test_add_of_a_directory_imports_its_files_sorted_not_recursing(repo_dir: Path, hangar: Hangar,
                                                                   files: Files, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    (folder / "deeper").mkdir(parents=True)
    for name in ("c.npy", "a.npy", "b.npy"):
        (folder / name).write_bytes((files / "a.npy").read_bytes())
    (folder / "deeper" / "d.npy").write_bytes((files / "a.npy").read_bytes())
    (folder / "notes.md").write_text("not data")
    done = hangar.ok("add", "images", folder, "--key-from", "index")
    assert "Staged 3 sample(s)" in done.stdout, done.stdout
    hangar.ok("commit", "-m", "folder")
    with Repository(repo_dir).checkout() as co:
        assert sorted(co["images"].keys()) == [0, 1, 2]
    hangar.ok("add", "named", folder)
    hangar.ok("commit", "-m", "named")
    with Repository(repo_dir).checkout() as co:
        assert sorted(co["named"].keys()) == ["a", "b", "c"]
    (tmp_path / "empty").mkdir()
    one_line_error(hangar("add", "x", tmp_path / "empty"), "empty", "holds no file")
