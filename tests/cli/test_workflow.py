"""The CLI through click's CliRunner: init, add, status, commit, log, branches,
checkout, diff, merge, summary, export, remotes."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.cli.main import cli

from .conftest import Files, Hangar, one_line_error

DIGEST = re.compile(r"a=([0-9a-f]{40})")


def digest_of(output: str) -> str:
    match = DIGEST.search(output)
    assert match, output
    return match.group(1)


def read_column(path: Path, column: str, branch: str = "") -> dict:
    with Repository(path).checkout(branch=branch) as co:
        return dict(co.columns[column].items())


def commands_of(group: click.Group) -> dict[str, click.Command]:
    """A group's commands (the root group loads them lazily)."""
    ctx = click.Context(group)
    return {name: group.get_command(ctx, name) for name in group.list_commands(ctx)}  # type: ignore[misc]


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, command in commands_of(group).items():
        out.append((*prefix, name))
        if isinstance(command, click.Group):
            out += all_commands(command, (*prefix, name))
    return out


# -- help and global options -----------------------------------------------------------
@pytest.mark.parametrize("argv", [(), *all_commands(cli)], ids=lambda a: " ".join(a) or "root")
def test_help_everywhere(tmp_path: Path, argv: tuple[str, ...]) -> None:
    result = Hangar(tmp_path)(*argv, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: ")


def test_commands_of_the_contract_exist() -> None:
    names = set(commands_of(cli))
    assert {"init", "clone", "add", "status", "commit", "log", "branch", "checkout", "diff",
            "merge", "summary", "remote", "push", "fetch", "fetch-data", "export"} <= names
    assert set(commands_of(commands_of(cli)["remote"])) == {"add", "remove", "list", "set-url", "rename"}  # type: ignore[arg-type]


def test_dash_c_must_exist(tmp_path: Path) -> None:
    result = Hangar(tmp_path / "nowhere")("status")
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


# -- init ----------------------------------------------------------------------------------
def test_init_takes_the_identity_from_git_config(repo_dir: Path) -> None:
    repo = Repository(repo_dir)
    assert repo.ctx.user == ("Hangar Test", "test@hangar-git.invalid")
    assert (repo_dir / ".git").is_dir()


def test_init_options_and_reinit(repo_dir: Path, hangar: Hangar) -> None:
    one_line_error(hangar("init"), "already a hangar repository", "--remove-old")
    assert "Initialized" in hangar.ok("init", "--remove-old", "--name", "Ann", "--email", "a@b").stdout
    assert Repository(repo_dir).ctx.user == ("Ann", "a@b")


def test_init_in_a_subdirectory_uses_the_enclosing_git_repo(tmp_path: Path) -> None:
    Hangar(tmp_path).ok("init", "proj")
    (tmp_path / "proj" / "sub").mkdir()
    Hangar(tmp_path / "proj" / "sub").ok("--quiet", "init", "--remove-old")
    assert not (tmp_path / "proj" / "sub" / ".git").exists()
    assert Repository(tmp_path / "proj").initialized


def test_init_bare(tmp_path: Path) -> None:
    Hangar(tmp_path).ok("init", "--bare", "srv.git")
    assert (tmp_path / "srv.git" / "HEAD").is_file()
    assert Repository(tmp_path / "srv.git").initialized


def test_commands_find_the_repository_from_a_subdirectory(repo_dir: Path, files: Files) -> None:
    sub = repo_dir / "a" / "b"
    sub.mkdir(parents=True)
    Hangar(sub).ok("add", "imgs", files / "a.npy")
    assert "On branch master" in Hangar(sub).ok("status").stdout


# -- add -----------------------------------------------------------------------------------
def test_add_npy_files_keyed_by_stem(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    result = hangar.ok("add", "imgs", files / "a.npy", files / "b.npy")
    assert "Staged 2 sample(s) in column 'imgs'" in result.stdout
    hangar.ok("commit", "-m", "two arrays")
    got = read_column(repo_dir, "imgs")
    assert set(got) == {"a", "b"}
    np.testing.assert_array_equal(got["a"], files.a)
    assert got["b"].dtype == np.float32


def test_add_npy_rows_and_npz(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "rows", "--rows", files / "a.npy")
    hangar.ok("add", "imgs", files / "z.npz")
    hangar.ok("commit", "-m", "rows and npz")
    rows = read_column(repo_dir, "rows")
    assert sorted(rows) == [0, 1]
    np.testing.assert_array_equal(rows[1], files.a[1])
    imgs = read_column(repo_dir, "imgs")
    assert sorted(imgs) == ["x", "y"]
    np.testing.assert_array_equal(imgs["y"], files.npz["y"])


def test_add_csv_rows_like_the_dota2_example(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "games", files / "d.csv")
    hangar.ok("commit", "-m", "csv")
    games = read_column(repo_dir, "games")
    assert sorted(games) == [0, 1, 2]
    assert games[2].dtype == np.int64
    np.testing.assert_array_equal(games[2], files.csv_rows[2])


def test_add_csv_options(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text("id,x,y\nfirst,1.5,2\nsecond,3,4\n")
    hangar.ok("add", "pts", path, "--header", "--key-column", "id", "--dtype", "float32")
    floats = tmp_path / "f.csv"
    floats.write_text("0.5,1\n")
    hangar.ok("add", "auto", floats)
    semi = tmp_path / "s.csv"
    semi.write_text("10;1;2\n11;3;4\n")
    hangar.ok("add", "semi", semi, "--delimiter", ";", "--key-column", "0", "--dtype", "uint8")
    hangar.ok("commit", "-m", "csv options")
    pts = read_column(repo_dir, "pts")
    assert set(pts) == {"first", "second"}
    assert pts["first"].dtype == np.float32
    np.testing.assert_array_equal(pts["first"], [1.5, 2])
    assert read_column(repo_dir, "auto")[0].dtype == np.float64
    semi_col = read_column(repo_dir, "semi")
    assert set(semi_col) == {10, 11}
    np.testing.assert_array_equal(semi_col[11], np.array([3, 4], np.uint8))


def test_add_csv_into_an_existing_column_parses_as_its_dtype(repo_dir: Path, hangar: Hangar,
                                                            tmp_path: Path) -> None:
    with Repository(repo_dir).checkout(write=True) as co:
        co.add_ndarray_column("small", shape=(2,), dtype=np.int8)
    path = tmp_path / "small.csv"
    path.write_text("1,2\n-3,4\n")
    hangar.ok("add", "small", path)
    big = tmp_path / "big.csv"
    big.write_text("1,2\n300,4\n")
    one_line_error(hangar("add", "small", big), "big.csv line 2", "'300'", "int8")
    hangar.ok("commit", "-m", "int8 rows")
    assert read_column(repo_dir, "small")[1].dtype == np.int8


def test_key_sources(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "byindex", files / "a.npy", files / "z.npz", "--key-from", "index",
              "--start", "10")
    hangar.ok("add", "byname", files / "d.csv", "--key-from", "name")
    hangar.ok("commit", "-m", "keys")
    assert sorted(read_column(repo_dir, "byindex")) == [10, 11, 12]
    assert sorted(read_column(repo_dir, "byname")) == ["d:0", "d:1", "d:2"]


def test_variable_shape_column_takes_the_largest_shape(repo_dir: Path, hangar: Hangar,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("1,2\n3,4,5,6\n7\n")
    hangar.ok("add", "ragged", path, "--variable-shape")
    hangar.ok("commit", "-m", "ragged")
    with Repository(repo_dir).checkout() as co:
        assert co.columns["ragged"].shape == (4,)
        np.testing.assert_array_equal(co["ragged", 2], [7])


def test_a_failed_add_stages_nothing(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    one_line_error(hangar("add", "imgs", files / "b.npy", files / "wrong_shape.npy"),
                   "wrong_shape.npy", "expects shape (2, 3), got (4,)")
    one_line_error(hangar("add", "other", files / "a.npy", files / "wrong_shape.npy"))
    hangar.ok("commit", "-m", "only a")
    assert set(read_column(repo_dir, "imgs")) == {"a"}
    with Repository(repo_dir).checkout() as co:
        assert "other" not in co.columns


def test_quiet_add_and_commit_print_nothing(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    assert hangar.ok("-q", "add", "imgs", files / "a.npy").output == ""
    assert hangar.ok("--quiet", "commit", "-m", "quiet").output == ""


def test_progress_bars_stay_off_without_a_terminal(repo_dir: Path, hangar: Hangar,
                                                   files: Files) -> None:
    result = hangar.ok("add", "imgs", files / "a.npy")
    assert result.stderr == ""


def test_images_with_pillow(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    image.fromarray(pixels).save(tmp_path / "pic.png")
    hangar.ok("add", "pics", tmp_path / "pic.png")
    hangar.ok("commit", "-m", "png")
    np.testing.assert_array_equal(read_column(repo_dir, "pics")["pic"], pixels)


def test_images_without_pillow_say_how_to_get_it(repo_dir: Path, hangar: Hangar, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "PIL", None)
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    one_line_error(hangar("add", "pics", tmp_path / "pic.png"), "pip install 'hangar-git[images]'")


# -- status, commit, log, summary ------------------------------------------------------------
def test_status_before_and_after_commit(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    out = hangar.ok("status").stdout
    assert "On branch master" in out and "No commits yet" in out
    hangar.ok("add", "imgs", files / "a.npy")
    out = hangar.ok("status").stdout
    assert "imgs" in out and "added" in out
    digest = digest_of(hangar.ok("commit", "-m", "first\n\nbody").stdout)
    out = hangar.ok("status").stdout
    assert f"Head: a={digest} first" in out
    assert "No changes" in out


def test_commit_needs_a_message_and_changes(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    one_line_error(hangar("commit"), "nothing to commit")  # before any editor opens
    one_line_error(hangar("commit", "-m", "empty"), "nothing to commit")


def test_log_and_summary(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    first = digest_of(hangar.ok("commit", "-m", "first").stdout)
    hangar.ok("add", "imgs", files / "b.npy")
    second = digest_of(hangar.ok("commit", "-m", "second").stdout)
    out = hangar.ok("log").stdout
    assert out.index(second) < out.index(first)
    assert "(master)" in out
    assert second not in hangar.ok("log", "--commit", first).stdout
    assert first in hangar.ok("log", "master", "--time", "--user").stdout
    summary = hangar.ok("summary").stdout
    assert "imgs" in summary and second in summary
    assert first in hangar.ok("summary", "--commit", first[:12]).stdout


def test_log_decorates_a_commit_with_its_branches_as_git_does(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    """Regression: a commit two branches point at was decorated ``(b2) (master)``; git writes one
    list, the current branch first: ``(master, b2)``; then the other branches, then the
    remote-tracking ones, each sorted."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "first")
    hangar.ok("branch", "b2")
    assert " (master, b2) : first" in hangar.ok("log").stdout
    repo = Repository(repo_dir)
    for name in ("origin/master", "origin/b2", "backup/master"):
        repo.ctx.git.set_ref(f"refs/hangar/remotes/{name}", repo.branch_head("master"))
    hangar.ok("branch", "a1")
    decorated = " (master, a1, b2, backup/master, origin/b2, origin/master) : first"
    assert decorated in hangar.ok("log").stdout
    assert decorated in hangar.ok("log", "--oneline", "--color").stdout.replace("\033[m", "").replace(
        "\033[1;32m", "").replace("\033[1;31m", "").replace("\033[33m", "")
    hangar.ok("checkout", "b2")
    assert " (b2, a1, master, backup/master, origin/b2, origin/master) : first" in hangar.ok("log").stdout


def test_rows_of_a_1d_array_are_scalar_samples(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    """`add --rows` of a 1-D array: its rows are scalars, which a column of shape () takes (one
    of another shape refuses them: tests/cli/test_errors.py rows-of-a-1d-array)."""
    np.save(files / "w.npy", np.arange(5, dtype=np.int64))
    np.save(files / "v.npy", np.arange(10, 13, dtype=np.int64))
    hangar.ok("add", "s", files / "w.npy", "--rows")
    hangar.ok("add", "s", files / "v.npy", "--rows", "--start", "5", "--key-from", "index")
    hangar.ok("add", "s", files / "v.npy", "--rows", "--key-from", "name")
    hangar.ok("commit", "-m", "scalars")
    assert hangar.ok("ls").stdout == "s\tndarray\tint64\t()\t11\n"
    got = read_column(repo_dir, "s")
    assert got[4] == 4 and got[7] == 12 and got["v:1"] == 11 and got[0].shape == ()


# -- branches ---------------------------------------------------------------------------------
def test_branch_create_list_checkout_delete(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    base = digest_of(hangar.ok("commit", "-m", "base").stdout)
    assert hangar.ok("branch", "dev").stdout == f"Created branch dev at a={base}\n"
    assert hangar.ok("branch").stdout == "  dev\n* master\n"
    hangar.ok("checkout", "dev")
    assert hangar.ok("branch").stdout == "* dev\n  master\n"
    hangar.ok("add", "imgs", files / "b.npy")
    tip = digest_of(hangar.ok("commit", "-m", "on dev").stdout)
    assert f"* dev     a={tip} on dev" in hangar.ok("branch", "-v").stdout  # padded to "master"
    hangar.ok("checkout", "master")
    one_line_error(hangar("branch", "-d", "dev"), "merge it first", "-D dev")
    hangar.ok("branch", "old", "--base", base)
    hangar.ok("branch", "-d", "old")
    hangar.ok("branch", "-D", "dev")
    assert hangar.ok("branch").stdout == "* master\n"


def test_checkout_b_creates_from_a_branch_base(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    base = digest_of(hangar.ok("commit", "-m", "base").stdout)
    hangar.ok("checkout", "-b", "feature", "--base", "master")
    assert Repository(repo_dir).branch_head("feature") == base
    assert "* feature" in hangar.ok("branch").stdout


def test_checkout_refuses_uncommitted_changes(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "base")
    hangar.ok("branch", "dev")
    hangar.ok("add", "imgs", files / "b.npy")
    one_line_error(hangar("checkout", "dev"), "uncommitted changes")


def test_a_refused_checkout_b_creates_no_branch(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    """Regression: `checkout -b` with staged changes was refused but had made the branch."""
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "base")
    hangar.ok("add", "imgs", files / "b.npy")
    one_line_error(hangar("checkout", "-b", "un2"), "uncommitted changes")
    assert hangar.ok("branch").stdout == "* master\n"
    with Repository(repo_dir).checkout(write=True):  # a write checkout open: refused too
        one_line_error(hangar("checkout", "-b", "un3"), "write checkout is open")
    assert hangar.ok("branch").stdout == "* master\n"
    hangar.ok("reset")
    hangar.ok("checkout", "-b", "un2")
    assert hangar.ok("branch").stdout == "  master\n* un2\n"


def test_diff_and_merge(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy")
    hangar.ok("commit", "-m", "base")
    hangar.ok("checkout", "-b", "dev")
    hangar.ok("add", "imgs", files / "b.npy")
    hangar.ok("add", "games", files / "d.csv")
    assert "games" in hangar.ok("diff").stdout
    tip = digest_of(hangar.ok("commit", "-m", "dev work").stdout)
    out = hangar.ok("diff", "master", "dev").stdout
    assert "games" in out and "'b'" in out
    assert "games" in hangar.ok("diff", "--branch", "dev", "--onto", "master").stdout
    hangar.ok("checkout", "master")
    result = hangar.ok("merge", "master", "dev", "-m", "merge dev")
    assert "Fast-Forward" in result.stdout and f"a={tip}" in result.stdout
    assert set(read_column(repo_dir, "imgs", "master")) == {"a", "b"}


def test_diff_usage_errors(repo_dir: Path, hangar: Hangar) -> None:
    assert hangar("diff", "a", "b", "c").exit_code == 2
    assert hangar("diff", "--onto", "x").exit_code == 2


# -- export ------------------------------------------------------------------------------------
def test_export_npy_round_trip_gives_the_same_files(repo_dir: Path, hangar: Hangar, files: Files,
                                                   tmp_path: Path) -> None:
    hangar.ok("add", "imgs", files / "a.npy", files / "b.npy")
    hangar.ok("commit", "-m", "arrays")
    out = tmp_path / "out"
    assert "Exported 2 sample(s)" in hangar.ok("export", "imgs", out).stdout
    for name in ("a.npy", "b.npy"):
        assert (out / name).read_bytes() == (files / name).read_bytes()
    one_line_error(hangar("export", "imgs", out), "exists", "--force")
    hangar.ok("export", "imgs", out, "--force")


def test_export_csv_and_npz_round_trip(repo_dir: Path, hangar: Hangar, files: Files,
                                       tmp_path: Path) -> None:
    hangar.ok("add", "games", files / "d.csv")
    hangar.ok("add", "imgs", files / "z.npz")
    first = digest_of(hangar.ok("commit", "-m", "csv and npz").stdout)
    out = tmp_path / "out"
    hangar.ok("export", "games", out, "--format", "csv", "--no-keys", "--no-header")
    assert (out / "games.csv").read_text() == (files / "d.csv").read_text()
    hangar.ok("export", "games", out / "keyed", "--format", "csv", "--commit", first)
    lines = (out / "keyed" / "games.csv").read_text().splitlines()
    assert lines[0] == "key,games_0,games_1,games_2" and lines[3] == "2,7,8,90"
    hangar.ok("export", "imgs", out, "--format", "npz", "--branch", "master")
    with np.load(out / "imgs.npz") as z:
        assert sorted(z.files) == ["x", "y"]
        np.testing.assert_array_equal(z["y"], files.npz["y"])
    hangar.ok("add", "again", out / "imgs.npz")   # exported files import back
    one_line_error(hangar("export", "imgs", out / "c", "--format", "csv"), "1-D rows")


# -- writers, warnings, remotes -----------------------------------------------------------------
def test_a_second_writer_gets_one_line(repo_dir: Path, hangar: Hangar, files: Files) -> None:
    with Repository(repo_dir).checkout(write=True):
        one_line_error(hangar("add", "imgs", files / "a.npy"), "another writer")
        one_line_error(hangar("commit", "-m", "x"), "another writer")
        assert "A write checkout is open" in hangar.ok("status").stdout


def test_api_missing_from_this_build_is_one_line(repo_dir: Path, hangar: Hangar,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(Repository, "log")
    one_line_error(hangar("log"), "`git hangar log` is not available in this build")


def test_remotes_push_clone_and_partial_data(tmp_path: Path, repo_dir: Path, hangar: Hangar,
                                             files: Files) -> None:
    hangar.ok("add", "imgs", files / "a.npy", files / "b.npy")
    hangar.ok("commit", "-m", "arrays")
    Hangar(tmp_path).ok("init", "--bare", "srv.git")
    hangar.ok("remote", "add", "origin", tmp_path / "srv.git")
    assert hangar.ok("remote").stdout == "origin\n"  # names, as `git remote`; `remote list` has addresses
    assert hangar.ok("remote", "list").stdout == f"origin\t{tmp_path / 'srv.git'}\n"
    hangar.ok("-q", "push", "origin", "master")

    Hangar(tmp_path).ok("-q", "clone", tmp_path / "srv.git")
    clone = Hangar(tmp_path / "srv")
    assert "origin" in clone.ok("remote", "list").stdout
    result = clone("export", "imgs", tmp_path / "out")
    assert result.exit_code == 1
    assert result.stderr.startswith("Warning: column(s) 'imgs' contain remote references")
    assert result.stderr.splitlines()[-1].startswith("Error: data of sample")
    assert len(result.stderr.splitlines()) == 2
    assert "Fetched 2 sample(s), 48 bytes of master from origin" in clone.ok("fetch-data", "origin", "--column", "imgs",
                                                     "--max-bytes", "10M").stdout
    clone.ok("export", "imgs", tmp_path / "out")
    assert (tmp_path / "out" / "a.npy").read_bytes() == (files / "a.npy").read_bytes()
    assert clone.ok("fetch", "origin", "master").stdout.startswith("origin/master is up to date at a=")
    hangar.ok("remote", "remove", "origin")
    assert hangar.ok("remote", "list").stdout == ""
    one_line_error(hangar("push", "origin", "master"), "no remote named 'origin'")
