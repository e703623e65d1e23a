"""The commands beyond `add`: reset, rm, metadata, show, ls, merge DEV / --strategy, commit in an
editor, global options after the command, --json (issue 11)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import Files, GitHangar, Hangar, one_line_error, subprocess_env


@pytest.fixture
def committed(repo_dir: Path, hangar: Hangar, files: Files) -> Path:
    hangar.ok("add", "imgs", files / "a.npy", files / "b.npy")
    hangar.ok("commit", "-m", "two arrays")
    return repo_dir


def keys_of(path: Path, column: str, branch: str = "") -> set:
    with Repository(path).checkout(branch=branch) as co:
        return set(co.columns[column].keys()) if column in co.columns else set()


# -- reset -------------------------------------------------------------------------------------
def test_reset_discards_staged_samples(committed: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "more", files / "z.npz")
    assert "more" in hangar.ok("status").stdout
    assert "Discarded the staged changes of 'master'" in hangar.ok("reset").stdout
    assert "No changes" in hangar.ok("status").stdout
    assert "Nothing to reset" in hangar.ok("reset").stdout


# -- rm ----------------------------------------------------------------------------------------
def test_rm_samples_then_commit(committed: Path, hangar: Hangar) -> None:
    assert "Removed 1 sample(s) from column 'imgs'" in hangar.ok("rm", "imgs", "a").stdout
    hangar.ok("commit", "-m", "drop a")
    assert keys_of(committed, "imgs") == {"b"}


def test_rm_of_a_missing_key_removes_nothing(committed: Path, hangar: Hangar) -> None:
    one_line_error(hangar("rm", "imgs", "b", "nosuch"), "'nosuch'")
    assert "No changes" in hangar.ok("status").stdout


def test_rm_int_and_str_keys(repo_dir: Path, hangar: Hangar) -> None:
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("c", prototype=np.zeros(2))
        col[1] = np.ones(2)
        col["1"] = np.zeros(2)
        col["7"] = np.zeros(2)
        co.commit("int and str keys")
    hangar.ok("rm", "c", "1", "7")              # 1: the int key; 7: only the str key exists
    hangar.ok("commit", "-m", "rm")
    assert keys_of(repo_dir, "c") == {"1"}
    hangar.ok("rm", "c", "--str-keys", "1")
    hangar.ok("commit", "-m", "rm str")
    assert keys_of(repo_dir, "c") == set()


def test_keys_as_ls_prints_them_paste_back(repo_dir: Path, hangar: Hangar) -> None:
    """Regression: `ls` printed the str key '1' quoted, but `show`/`rm` refused "'1'"."""
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("c", prototype=np.zeros(2))
        col[1], col["1"], col["'q"] = np.ones(2), np.full(2, 2.0), np.full(2, 3.0)
        co.commit("int and str keys")
    listed = hangar.ok("ls", "master", "c").stdout.split()
    assert sorted(listed) == sorted(["1", "'1'", "''q'"])
    shown = {text: hangar.ok("show", "master", "c", text).stdout for text in listed}
    assert "2." in shown["'1'"] and "1." in shown["1"] and "3." in shown["''q'"]
    hangar.ok("rm", "c", "'1'", "''q'")
    hangar.ok("commit", "-m", "rm pasted keys")
    assert keys_of(repo_dir, "c") == {1}


def test_rm_column(committed: Path, hangar: Hangar) -> None:
    hangar.ok("rm", "--column", "imgs")
    hangar.ok("commit", "-m", "no more imgs")
    with Repository(committed).checkout() as co:
        assert "imgs" not in co.columns
    one_line_error(hangar("rm", "--column", "nosuch"), "'nosuch'")


def test_rm_column_only_staged_says_it_was_discarded(committed: Path, hangar: Hangar, files: Path) -> None:
    """Regression: removing a column that was only staged said to record the removal with a
    commit, while status (rightly) showed nothing to commit."""
    hangar.ok("add", "fresh", files / "a.npy")
    out = hangar.ok("rm", "--column", "fresh").output
    assert "was only staged" in out and "`git hangar commit`" not in out, out
    assert "No changes" in hangar.ok("status").output


@pytest.mark.parametrize("args, fragments", [
    (("rm", "imgs"), ("`git hangar rm imgs --column`", "give their keys")),
    (("rm", "imgs", "a", "--column"), ("--column removes the whole column", "without --column")),
], ids=["neither-keys-nor-column", "keys-and-column"])
def test_rm_without_keys_says_how_to_remove_the_column_or_samples(committed: Path, hangar: Hangar,
                                                                 args: tuple[str, ...],
                                                                 fragments: tuple[str, ...]) -> None:
    """Regression: `rm imgs` (no keys) said "give KEYS ..., or --column ... (not both)"."""
    result = hangar(*args)
    assert result.exit_code == 2
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith("Error: ") and "not both" not in error, error
    for fragment in fragments:
        assert fragment in error, (fragment, error)
    assert keys_of(committed, "imgs") == {"a", "b"}


# -- metadata ----------------------------------------------------------------------------------
def test_metadata_set_get_list_delete(committed: Path, hangar: Hangar) -> None:
    hangar.ok("metadata", "set", "source", "camera 1")
    assert hangar.ok("metadata", "get", "source").stdout == "camera 1\n"
    hangar.ok("commit", "-m", "meta")
    assert hangar.ok("metadata").stdout == "source\tcamera 1\n"
    hangar.ok("metadata", "delete", "source")
    hangar.ok("commit", "-m", "no meta")
    assert hangar.ok("metadata").stdout == ""
    one_line_error(hangar("metadata", "get", "source"), "'source'")
    one_line_error(hangar("metadata", "delete", "source"), "'source'")


def test_metadata_listing_keeps_one_line_per_key(committed: Path, hangar: Hangar) -> None:
    """Regression: `metadata` printed KEY<TAB>VALUE raw, so a multi-line value broke the listing."""
    value = "line 1\nline 2\twith a tab and a \\ backslash"
    hangar.ok("metadata", "set", "notes", value)
    hangar.ok("metadata", "set", "z", "ü")
    assert hangar.ok("metadata").stdout == "notes\tline 1\\nline 2\\twith a tab and a \\\\ backslash\nz\tü\n"
    assert json.loads(hangar.ok("metadata", "--json").stdout) == {"notes": value, "z": "ü"}
    assert hangar.ok("metadata", "get", "notes").stdout == value + "\n"


@pytest.mark.parametrize("key", ["with space", "tab\tkey", "x" * 65, "ü", "a:b"])
def test_metadata_keys_follow_hangars_rule(committed: Path, hangar: Hangar, key: str) -> None:
    """Regression: keys with spaces were accepted; Hangar 0.5 refused them."""
    one_line_error(hangar("metadata", "set", key, "v"), "invalid metadata key", "ASCII letters, digits")
    assert hangar.ok("metadata").stdout == ""


def test_setting_metadata_to_its_value_stages_nothing_and_says_so(committed: Path, hangar: Hangar) -> None:
    """Regression: `metadata set k v` where k was v already printed "Staged metadata", while
    status said "No changes"."""
    hangar.ok("metadata", "set", "k", "v")
    again = hangar.ok("metadata", "set", "k", "v").stdout
    assert "nothing staged" in again and "Staged" not in again
    hangar.ok("commit", "-m", "k")
    assert "nothing staged" in hangar.ok("metadata", "set", "k", "v").stdout
    assert "No changes" in hangar.ok("status").stdout
    assert "Staged metadata 'k'" in hangar.ok("metadata", "set", "k", "w").stdout


def test_metadata_of_an_older_commit(committed: Path, hangar: Hangar) -> None:
    hangar.ok("metadata", "set", "k", "v1")
    hangar.ok("commit", "-m", "v1")
    head = Repository(committed).branch_head("master")
    hangar.ok("metadata", "set", "k", "v2")
    hangar.ok("commit", "-m", "v2")
    assert hangar.ok("metadata", "--rev", head, "get", "k").stdout == "v1\n"


# -- show / ls ---------------------------------------------------------------------------------
def test_show_commit_column_and_sample(committed: Path, hangar: Hangar, files: Files, tmp_path: Path) -> None:
    out = hangar.ok("show", "master").stdout
    assert out.startswith("commit a=") and "two arrays" in out and "imgs\tndarray\tfloat32\t2x3\t2" in out
    column = hangar.ok("show", "master", "imgs").stdout.splitlines()
    assert column[:2] == ["imgs\tndarray\tfloat32\t2x3\t2", "a\t2x3\t[[0., 1., 2.], [3., 4., 5.]]"]
    printed = hangar.ok("show", "master", "imgs", "a").stdout
    assert "[[0., 1., 2.]," in printed
    target = tmp_path / "a-out.npy"
    hangar.ok("show", "master", "imgs", "a", "-o", target)
    np.testing.assert_array_equal(np.load(target), files.a)
    one_line_error(hangar("show", "master", "imgs", "nosuch"), "'nosuch'")
    one_line_error(hangar("show", "nosuch"), "'nosuch'")


@pytest.mark.parametrize("where", ["nodir/x.npy", "a/b/c.npy"])
def test_show_to_a_path_it_cannot_write_is_one_line(committed: Path, hangar: Hangar, tmp_path: Path,
                                                    where: str) -> None:
    """Regression: `show master imgs a -o /nonexistent/dir/x.npy` printed a traceback."""
    one_line_error(hangar("show", "master", "imgs", "a", "-o", tmp_path / where), "cannot write")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def export_sample(hangar: Hangar, target: Path, *extra: str) -> object:
    return hangar("export", "imgs", target.parent, *extra)


def show_sample(hangar: Hangar, target: Path, *extra: str) -> object:
    return hangar("show", "master", "imgs", "a", "-o", target, *extra)


@pytest.mark.parametrize("write", [show_sample, export_sample], ids=["show-o", "export"])
def test_an_existing_file_is_overwritten_only_with_force(committed: Path, hangar: Hangar, files: Files,
                                                         tmp_path: Path, write: Callable[..., Any]) -> None:
    """Regression: `show REV COL KEY -o x.npy` overwrote an existing x.npy, which `export` refuses."""
    target = tmp_path / "out" / "a.npy"
    target.parent.mkdir()
    target.write_bytes(b"mine")
    one_line_error(write(hangar, target), repr(str(target)), "exists", "--force")
    assert target.read_bytes() == b"mine"
    assert write(hangar, target, "--force").exit_code == 0
    np.testing.assert_array_equal(np.load(target), files.a)


def test_show_str_and_bytes_samples(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    with Repository(repo_dir).checkout(write=True) as co:
        co.add_str_column("text")["k"] = "hello"
        co.add_bytes_column("raw")["k"] = b"\x00\x01"
        co.commit("str and bytes")
    assert hangar.ok("show", "master", "text", "k").stdout == "hello\n"
    assert hangar.ok("show", "master", "raw", "k").stdout_bytes == b"\x00\x01"
    hangar.ok("show", "master", "raw", "k", "-o", tmp_path / "raw.bin")
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"
    # regression: -o x.npy of a str or bytes sample wrote the raw text, which np.load refused
    hangar.ok("show", "master", "text", "k", "-o", tmp_path / "text.npy")
    hangar.ok("show", "master", "raw", "k", "-o", tmp_path / "raw.npy")
    assert np.load(tmp_path / "text.npy").item() == "hello" and np.load(tmp_path / "raw.npy").tobytes() == b"\x00\x01"


def test_ls_columns_and_keys(committed: Path, hangar: Hangar) -> None:
    assert hangar.ok("ls").stdout == "imgs\tndarray\tfloat32\t2x3\t2\n"
    assert hangar.ok("ls", "master", "imgs").stdout == "a\nb\n"
    with Repository(committed).checkout(write=True) as co:
        col = co.add_ndarray_column("c", prototype=np.zeros(1))
        col[1] = col["1"] = np.zeros(1)
        co.commit("ambiguous keys")
    assert hangar.ok("ls", "master", "c").stdout == "1\n'1'\n"


# -- merge -------------------------------------------------------------------------------------
def conflicting_branches(path: Path, hangar: Hangar, dev: str = "dev") -> None:
    repo = Repository(path)
    repo.create_branch(dev)
    for branch, value in (("master", 1.0), (dev, 2.0)):
        with repo.checkout(write=True, branch=branch) as co:
            co["imgs"]["a"] = np.full((2, 3), value, np.float32)
            co.commit(f"a on {branch}")
    hangar.ok("checkout", "master")


def test_merge_into_the_write_branch(committed: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("branch", "dev")
    hangar.ok("checkout", "dev")
    hangar.ok("add", "more", files / "z.npz")
    hangar.ok("commit", "-m", "more")
    hangar.ok("checkout", "master")
    assert "Merged 'dev' into 'master'" in hangar.ok("merge", "dev").stdout
    assert keys_of(committed, "more") == {"x", "y"}
    again = hangar.ok("merge", "dev").stdout
    assert again == "Already up to date: 'master' contains 'dev'\n"  # once (regression: two lines said it)


def test_merge_conflicts_name_the_branches(committed: Path, hangar: Hangar) -> None:
    """Regression: conflicts and the strategy hint always said "master" and "dev"."""
    conflicting_branches(committed, hangar, dev="b2")
    error = hangar("merge", "b2").stderr
    assert "key 'a' mutated on master, mutated on b2" in error and "(take b2's)" in error, error
    assert " dev" not in error


@pytest.mark.parametrize("strategy, value", [("ours", 1.0), ("theirs", 2.0)])
def test_merge_strategy_resolves_conflicts(committed: Path, hangar: Hangar, strategy: str,
                                           value: float) -> None:
    conflicting_branches(committed, hangar)
    error = hangar("merge", "dev")
    assert error.exit_code == 1
    assert error.stdout == ""  # regression: "Selected 3-Way Merge Strategy" came before the failure
    assert "sample conflict: column 'imgs' key 'a'" in error.stderr
    assert "--strategy ours" in error.stderr and ".conflicts" not in error.stderr
    hangar.ok("merge", "dev", "--strategy", strategy)
    with Repository(committed).checkout() as co:
        assert float(co["imgs"]["a"][0, 0]) == value
        assert len(Repository(committed).log(return_contents=True)["ancestors"][co.commit_hash]) == 2


def test_merge_conflict_list_names_no_python_attribute(committed: Path, hangar: Hangar) -> None:
    """Regression: past 100 conflicts the list ended with "(all are in .conflicts)"."""
    repo = Repository(committed)
    repo.create_branch("dev")
    for branch, value in (("master", 1), ("dev", 2)):
        with repo.checkout(write=True, branch=branch) as co:
            col = co["imgs"]
            with col:
                for i in range(120):
                    col[i] = np.full((2, 3), value, np.float32)
            co.commit(branch)
    hangar.ok("checkout", "master")
    error = hangar("merge", "dev").stderr
    assert "... and 20 more" in error and ".conflicts" not in error


# -- commit in an editor -----------------------------------------------------------------------
EDITOR = "python3 -c \"import sys; p = sys.argv[1]; open(p, 'a').write(open(p + '.in').read())\""


def editor_env(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_EDITOR", EDITOR)
    (tmp_path / "msg.in").write_text(text)


def test_commit_without_m_opens_the_editor(committed: Path, hangar: Hangar, files: Files,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    hangar.ok("add", "more", files / "z.npz")
    message_file = Path(Repository(committed).ctx.hangar_dir) / "COMMIT_EDITMSG"
    (message_file.parent / "COMMIT_EDITMSG.in").write_text("# a comment\nFirst line\n\n\n\nbody\n")
    monkeypatch.setenv("GIT_EDITOR", EDITOR)
    out = hangar.ok("commit").stdout
    assert "First line" in out
    template = message_file.read_text()
    assert "Lines starting\n# with '#' will be ignored" in template and "#   more:" in template
    info = Repository(committed).log(return_contents=True)
    assert info["specs"][info["head"]]["message"] == "First line\n\nbody"


def test_empty_editor_message_aborts(committed: Path, hangar: Hangar, files: Files,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    hangar.ok("add", "more", files / "z.npz")
    head = Repository(committed).branch_head("master")
    message_file = Path(Repository(committed).ctx.hangar_dir) / "COMMIT_EDITMSG"
    (message_file.parent / "COMMIT_EDITMSG.in").write_text("# only comments\n\n")
    monkeypatch.setenv("GIT_EDITOR", EDITOR)
    one_line_error(hangar("commit"), "Aborting commit due to empty commit message")
    assert Repository(committed).branch_head("master") == head
    monkeypatch.setenv("GIT_EDITOR", "false")
    one_line_error(hangar("commit"), "problem with the editor 'false'")


def test_core_editor_is_used(committed: Path, files: Files) -> None:
    """Without GIT_EDITOR, git's core.editor (through a real `git hangar` process)."""
    Hangar(committed).ok("add", "more", files / "z.npz")
    message_file = Path(Repository(committed).ctx.hangar_dir) / "COMMIT_EDITMSG"
    (message_file.parent / "COMMIT_EDITMSG.in").write_text("from core.editor\n")
    subprocess.run(["git", "config", "core.editor", EDITOR], cwd=committed, check=True)
    env = {k: v for k, v in subprocess_env().items() if k not in ("GIT_EDITOR", "VISUAL", "EDITOR")}
    done = subprocess.run(["git", "hangar", "commit"], cwd=committed, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "from core.editor" in done.stdout


# -- global options anywhere -------------------------------------------------------------------
def test_quiet_and_dash_c_after_the_command(committed: Path, tmp_path: Path, files: Files,
                                            git_hangar: GitHangar) -> None:
    done = git_hangar("add", "more", files / "z.npz", "-q", cwd=committed)
    assert done.returncode == 0 and done.stdout == "", done.stderr
    done = git_hangar("status", "-C", committed, cwd=tmp_path)
    assert done.returncode == 0 and "On branch master" in done.stdout, done.stderr
    done = git_hangar("remote", "list", "-C", committed, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = git_hangar("reset", "--quiet", cwd=committed)
    assert done.returncode == 0 and done.stdout == ""


def test_deleted_current_directory_is_one_line(committed: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    done = subprocess.run(f"cd {gone} && rmdir {gone} && git hangar status", shell=True, env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)
    one_line_error(done, "current directory no longer exists")


# -- --json ------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["status", "--json"], ["log", "--json"], ["diff", "--json"],
                                  ["summary", "--json"], ["fsck", "--json", "--quick"]])
def test_json_output(committed: Path, hangar: Hangar, argv: list[str]) -> None:
    document = json.loads(hangar.ok(*argv).stdout)
    assert isinstance(document, dict) and document


def test_status_json_facts(committed: Path, hangar: Hangar) -> None:
    hangar.ok("rm", "imgs", "a")
    status = json.loads(hangar.ok("status", "--json").stdout)
    assert status["branch"] == "master" and status["clean"] is False
    assert status["changes"]["samples"]["imgs"]["removed"] == ["a"]
    assert status["samples_without_data"] == 0 and status["tracking"] == []


def test_show_lists_a_multi_line_metadata_value_on_one_line(committed: Path, hangar: Hangar) -> None:
    """Regression: `show` printed a multi-line value raw, across lines (`metadata` escaped it)."""
    hangar.ok("metadata", "set", "note", "line1\nline2")
    hangar.ok("commit", "-m", "a note")
    assert "metadata note\tline1\\nline2\n" in hangar.ok("show", "master").output
