"""repo.log: the lane graph renderer and the printed history."""
from __future__ import annotations

import time

import pytest

from hangar_git import Repository
from hangar_git.api.log import draw, graph_order

from .conftest import edit


def render(parents: dict[str, list[str]], tips: list[str]) -> list[str]:
    times = {c: i for i, c in enumerate(reversed(list(parents)))}   # listed newest first
    order = graph_order(tips, parents, times)
    return list(draw(order, parents, {c: f"{c} : msg" for c in order}))


GRAPHS = [
    pytest.param({"c": ["b"], "b": ["a"], "a": []}, ["c"],
                 ["* c : msg", "* b : msg", "* a : msg"], id="linear"),
    pytest.param({"merge": ["relabel", "train"], "relabel": ["init"], "train": ["init"], "init": []}, ["merge"],
                 ["*   merge : msg",
                  "|\\",
                  "| * train : msg",
                  "* | relabel : msg",
                  "|/",
                  "* init : msg"], id="branch-and-merge"),
    pytest.param({"M": ["A3", "B3"], "A3": ["A2"], "B3": ["B2"], "A2": ["A1", "B1"], "B2": ["B1", "A1"],
                  "A1": ["O"], "B1": ["O"], "O": []}, ["M"],
                 ["*   M : msg",
                  "|\\",
                  "| * B3 : msg",
                  "| *   B2 : msg",
                  "| |\\",
                  "* | | A3 : msg",
                  "* | | A2 : msg",
                  "|\\|/",
                  "|/|",
                  "| * B1 : msg",
                  "* | A1 : msg",
                  "|/",
                  "* O : msg"], id="criss-cross"),
    pytest.param({"d": ["b"], "c": ["b"], "b": ["a"], "a": []}, ["d", "c"],
                 ["* d : msg", "| * c : msg", "|/", "* b : msg", "* a : msg"], id="two-heads"),
    pytest.param({"m2": ["m1", "f2"], "m1": ["m0"], "f2": ["f1", "g1"], "g1": ["f1"], "f1": ["m0"], "m0": []},
                 ["m2"],
                 ["*   m2 : msg",
                  "|\\",
                  "| *   f2 : msg",
                  "| |\\",
                  "| | * g1 : msg",
                  "| |/",
                  "| * f1 : msg",
                  "* | m1 : msg",
                  "|/",
                  "* m0 : msg"], id="nested-merge"),
    pytest.param({"m": ["a", "b", "c"], "a": ["o"], "b": ["o"], "c": ["o"], "o": []}, ["m"],
                 ["*     m : msg",
                  "|\\",
                  "| |\\",
                  "| | * c : msg",
                  "| * | b : msg",
                  "| |/",
                  "* | a : msg",
                  "|/",
                  "* o : msg"], id="octopus"),
]


@pytest.mark.parametrize(("parents", "tips", "expected"), GRAPHS)
def test_graph(parents: dict[str, list[str]], tips: list[str], expected: list[str]) -> None:
    assert render(parents, tips) == expected


def test_graph_order_puts_children_first_and_follows_the_last_parent() -> None:
    parents = {"m": ["a", "b"], "a": ["o"], "b": ["x"], "x": ["o"], "o": []}
    order = graph_order(["m"], parents, {"m": 5, "a": 4, "b": 3, "x": 2, "o": 1})
    assert order == ["m", "b", "x", "a", "o"]


def test_colour_codes_only_when_asked() -> None:
    parents = {"m": ["a", "b"], "a": ["o"], "b": ["o"], "o": []}
    order = graph_order(["m"], parents, {"m": 4, "a": 3, "b": 2, "o": 1})
    plain = list(draw(order, parents, {c: c for c in order}))
    coloured = list(draw(order, parents, {c: c for c in order}, colour=True))
    assert all("\033[" not in line for line in plain)
    assert any("\033[" in line for line in coloured)
    strip = [line.replace("\033[m", "") for line in coloured]
    for code in range(31, 37):
        strip = [line.replace(f"\033[{code}m", "").replace(f"\033[1;{code}m", "") for line in strip]
    assert strip == plain


@pytest.fixture
def merged(forked: Repository) -> dict[str, str]:
    c: dict[str, str] = {"init": forked.branch_head("master")}
    c["relabel"] = edit(forked, "master", "relabel", put={"x": {1: 100}})
    c["train"] = edit(forked, "dev", "added training data", put={"x": {30: 1}})
    c["merge"] = forked.merge("merge commit message", "master", "dev")
    with forked.checkout(write=True, branch="master"):
        pass
    return c


def test_log_prints_the_tutorial_graph(forked: Repository, merged: dict[str, str],
                                       capsys: pytest.CaptureFixture) -> None:
    forked.ctx.git.set_ref("refs/hangar/remotes/origin/master", merged["merge"])
    capsys.readouterr()
    assert forked.log() is None
    assert capsys.readouterr().out.splitlines() == [
        f"*   a={merged['merge']} (master, origin/master) : merge commit message",
        "|\\",
        f"| * a={merged['train']} (dev) : added training data",
        f"* | a={merged['relabel']} : relabel",
        "|/",
        f"* a={merged['init']} : initial commit"]


def test_log_of_a_branch_or_commit(forked: Repository, merged: dict[str, str],
                                   capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    forked.log("dev")
    assert capsys.readouterr().out.splitlines() == [
        f"* a={merged['train']} (dev) : added training data", f"* a={merged['init']} : initial commit"]
    forked.log(commit=merged["relabel"][:10])
    assert capsys.readouterr().out.splitlines() == [
        f"* a={merged['relabel']} : relabel", f"* a={merged['init']} : initial commit"]


def test_log_time_and_user(forked: Repository, capsys: pytest.CaptureFixture) -> None:
    head = forked.branch_head("master")
    when = time.strftime("%d%b%Y %H:%M:%S", time.gmtime(forked.ctx.git.commit_info(head).time))
    capsys.readouterr()
    forked.log(show_time=True, show_user=True)
    assert capsys.readouterr().out == f"* a={head} (master, dev) ({when}) (tester) : initial commit\n"


def test_log_contents(forked: Repository, merged: dict[str, str], capsys: pytest.CaptureFixture) -> None:
    capsys.readouterr()
    c = forked.log(branch="master", return_contents=True)
    assert c is not None and capsys.readouterr().out == ""
    assert c["head"] == merged["merge"]
    assert c["order"] == [merged[k] for k in ("merge", "train", "relabel", "init")]
    assert c["heads"] == {"master": merged["merge"], "dev": merged["train"]}
    assert c["ancestors"][merged["merge"]] == [merged["relabel"], merged["train"]]
    assert c["ancestors"][merged["init"]] == [""]  # a root, as Hangar writes it
    spec = c["specs"][merged["merge"]]
    assert spec["message"] == "merge commit message" and spec["author"] == "tester"
    assert isinstance(spec["time"], int)


def test_log_contents_of_the_newest_commits_hold_only_those(forked: Repository, merged: dict[str, str]) -> None:
    """Regression: `log --json -n 1` listed one commit in ``order`` but every commit walked in
    ``ancestors`` and ``specs``."""
    c = forked.log(branch="master", return_contents=True, max_count=2)
    assert c is not None and c["order"] == [merged["merge"], merged["train"]]
    assert sorted(c["ancestors"]) == sorted(c["specs"]) == sorted(c["order"])


def test_log_of_all_branches(forked: Repository, capsys: pytest.CaptureFixture) -> None:
    init = forked.branch_head("master")
    dev = edit(forked, "dev", "on dev", put={"x": {1: 1.5}})
    master = edit(forked, "master", "on master", put={"x": {2: 2.5}})
    capsys.readouterr()
    forked.log(all_branches=True)
    lines = capsys.readouterr().out.splitlines()
    tips = [f"a={master} (master) : on master", f"a={dev} (dev) : on dev"]
    if lines[0] != f"* {tips[0]}":    # same second: either tip may come first
        tips.reverse()
    assert lines == [f"* {tips[0]}", f"| * {tips[1]}", "|/", f"* a={init} : initial commit"]


def test_log_without_commits(repo: Repository, capsys: pytest.CaptureFixture) -> None:
    repo.log()
    assert capsys.readouterr().out == "No commits made\n"
    assert (repo.log(return_contents=True) or {}).get("order") == []
