"""Hints about data that is not on this machine name real commands (issue 11): the repository's
own remotes and the branch, never a REMOTE placeholder; no fetch-data at all without a remote;
with several remotes, the one whose branches hold the commit, or else every choice. A push
refused for lack of data names the column, key and commit, and the command it suggests is the
one that makes the push succeed: each test runs it literally."""
from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.api.dataset import make_numpy_dataset

from .conftest import Hangar, add_sample, clone, one_line_error

SUGGESTED = re.compile(r"`(git hangar fetch-data [^`]*)`")


def suggested(text: str) -> list[str]:
    """The fetch-data commands ``text`` suggests, in order."""
    return SUGGESTED.findall(text)


def run_literally(hangar: Hangar, command: str) -> None:
    """Run a suggested `git hangar ...` command exactly as printed."""
    argv = shlex.split(command)
    assert argv[:2] == ["git", "hangar"], command
    hangar.ok(*argv[2:])


def bare(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    Hangar(tmp_path).ok("init", "--bare", path)
    return path


# -- where the data can come from: none, one, two remotes ---------------------------------------
# Each scenario arranges the remotes of a partial clone and returns (the branch it reads, the
# fetch-data commands every hint must suggest, in order).
Scenario = Callable[[Hangar, Path, Path], tuple[str, list[str]]]


def no_remote(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    other.ok("remote", "remove", "origin")
    return "master", []


def one_remote(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    return "master", ["git hangar fetch-data origin master"]


def two_remotes_one_holding(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """origin/master holds the commit; backup (empty, never fetched) does not."""
    other.ok("remote", "add", "backup", bare(tmp_path, "backup.git"))
    return "master", ["git hangar fetch-data origin master"]


def two_remotes_unknown(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Two remotes, neither fetched from: which holds the data is not known here."""
    other.ok("remote", "remove", "origin")
    other.ok("remote", "add", "left", server)
    other.ok("remote", "add", "right", server)
    return "master", ["git hangar fetch-data left master", "git hangar fetch-data right master"]


def two_remotes_both_holding(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """origin and backup both have the commit, and master tracks neither: both are choices."""
    other.ok("remote", "add", "backup", server)
    other.ok("fetch", "backup")
    return "master", ["git hangar fetch-data origin master", "git hangar fetch-data backup master"]


def two_remotes_upstream(other: Hangar, server: Path, tmp_path: Path) -> tuple[str, list[str]]:
    """Both have the commit; the branch read tracks backup/master: its upstream is the one."""
    two_remotes_both_holding(other, server, tmp_path)
    other.ok("checkout", "-b", "dev", "backup/master")
    return "dev", ["git hangar fetch-data backup dev"]


SCENARIOS: list[Scenario] = [no_remote, one_remote, two_remotes_one_holding, two_remotes_unknown,
                             two_remotes_both_holding, two_remotes_upstream]


def outputs(other: Hangar, tmp_path: Path, branch: str) -> dict[str, str]:
    """What each way of meeting the missing data of ``branch`` (the write branch) prints: status,
    a sample, a column, export, the Python checkout's warning, a dataset over the column."""
    out = {"status": other.ok("status").stdout,
           "show sample": other("show", branch, "imgs", "a").stderr,
           "show column": other.ok("show", branch, "imgs").stdout,
           "export": other("export", "imgs", tmp_path / "out").stderr}
    repo = Repository(other.path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        co = repo.checkout(branch=branch)
    out["checkout warning"] = " ".join(str(w.message) for w in caught)
    with co:
        with pytest.raises(Exception) as info:
            make_numpy_dataset([co["imgs"]])
    out["dataset"] = str(info.value)
    return out


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_missing_data_hints_name_the_real_remotes(scenario: Scenario, pushed: Path, server: Path,
                                                  tmp_path: Path) -> None:
    """Regression: `show REV COLUMN` printed `fetch-data REMOTE`; with two remotes the checkout
    warning said REMOTE, a sample's error named the first remote configured whether or not it
    held the data, and a dataset said `fetch-data REMOTE` and stream_from='origin'."""
    other = clone(tmp_path, server, "other")
    branch, expected = scenario(other, server, tmp_path)
    for what, text in outputs(other, tmp_path, branch).items():
        assert "REMOTE" not in text and "BRANCH" not in text, (what, text)
        if not expected:
            assert "fetch-data" not in text and "stream_from" not in text, (what, text)
            assert "git hangar remote add NAME" in text, (what, text)
            continue
        named = [c.split(" --column")[0] for c in suggested(text)]
        assert list(dict.fromkeys(named)) == expected, (what, text)  # export: a warning and an error


@pytest.mark.parametrize("scenario", SCENARIOS[1:], ids=lambda f: f.__name__)
def test_the_suggested_fetch_data_gets_the_data(scenario: Scenario, pushed: Path, server: Path,
                                                tmp_path: Path) -> None:
    other = clone(tmp_path, server, "other")
    scenario(other, server, tmp_path)
    for command in suggested(other.ok("status").stdout):
        run_literally(other, command)
        assert "no data" not in other.ok("status").stdout


def test_status_after_drop_names_origin_and_the_branch(pushed: Path, hangar: Hangar) -> None:
    """Regression (reported): status after `drop` said `fetch-data REMOTE master` with one remote."""
    hangar.ok("drop", "origin", "master")
    status = hangar.ok("status").stdout
    assert suggested(status) == ["git hangar fetch-data origin master"], status
    run_literally(hangar, suggested(status)[0])
    assert "no data" not in hangar.ok("status").stdout


def test_a_streaming_write_checkout_names_the_command(pushed: Path, server: Path, tmp_path: Path) -> None:
    """Regression: it said "fetch the data first (`git hangar fetch-data`)", naming no remote."""
    other = clone(tmp_path, server, "other")
    with pytest.raises(Exception) as info:
        Repository(other.path).checkout(write=True, stream_from="origin")
    assert suggested(str(info.value)) == ["git hangar fetch-data origin master"], str(info.value)


# -- a push refused for lack of data -------------------------------------------------------------
@pytest.mark.parametrize("older", [False, True], ids=["head-data", "older-commit-data"])
def test_a_refused_push_names_the_sample_and_a_command_that_works(pushed: Path, server: Path, tmp_path: Path,
                                                                  older: bool) -> None:
    """Regression: a partial clone's push to another remote named a raw digest and said to
    "fetch-data them from the remote that has them"; the data of older commits needs
    --all-history, which a plain `fetch-data origin master` does not fetch."""
    if older:  # sample b lives only in the first commit
        Hangar(pushed).ok("rm", "imgs", "b")
        Hangar(pushed).ok("commit", "-m", "without b")
        Hangar(pushed).ok("push", "origin", "master")
    other = clone(tmp_path, server, "other")
    add_sample(other.path, "c", 3.0)
    other.ok("remote", "add", "backup", bare(tmp_path, "backup.git"))
    line = one_line_error(other("push", "backup", "master"), "2 sample(s)", "column 'imgs' key '", " in commit ")
    assert not re.search(r"\b[0-9a-f]{64}\b", line), line
    assert suggested(line) == ["git hangar fetch-data origin master" + (" --all-history" if older else "")], line
    run_literally(other, suggested(line)[0])
    assert other.ok("push", "backup", "master").stdout.startswith("Pushed master to backup")


def test_a_refused_push_with_no_other_remote_suggests_adding_one(pushed: Path, server: Path,
                                                                 tmp_path: Path) -> None:
    other = clone(tmp_path, server, "other")
    other.ok("remote", "remove", "origin")
    other.ok("remote", "add", "backup", bare(tmp_path, "backup.git"))
    line = one_line_error(other("push", "backup", "master"), "column 'imgs' key '", "git hangar remote add NAME")
    assert "fetch-data backup" not in line and "REMOTE" not in line, line


# -- damaged at rest -----------------------------------------------------------------------------
def test_a_damaged_sample_names_the_fetch_data_that_repairs_it(pushed: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: reading a damaged object said "run `git hangar fetch-data` to fetch it again",
    naming neither the remote nor the branch."""
    np.save(tmp_path / "big.npy", np.random.default_rng(0).standard_normal((400, 400)))
    hangar.ok("add", "large", tmp_path / "big.npy")
    hangar.ok("commit", "-m", "a large sample")
    hangar.ok("push", "origin", "master")
    [stored] = (pushed / ".git" / "hangar" / "store" / "large").glob("*/*")
    raw = bytearray(stored.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    stored.write_bytes(bytes(raw))
    line = one_line_error(hangar("show", "master", "large", "big"), "'big'")
    assert suggested(line) == ["git hangar fetch-data origin master --column large"], line
    run_literally(hangar, suggested(line)[0])
    hangar.ok("show", "master", "large", "big")
