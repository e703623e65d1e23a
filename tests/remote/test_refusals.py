"""Every refusal of the remote feature: what is refused, with what error, and that nothing changed."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import numpy as np
import paramiko
import pytest

from hangar_git import (BranchNotFoundError, HangarError, NonFastForwardError, NotFoundError, RemoteError,
                        Repository)
from hangar_git.errors import AuthenticationError, HostKeyError

from .conftest import (KINDS, SSH_KINDS, ServerRepo, add_rows, dota_rows, init_bare)

ROWS = dota_rows(60, np.uint8, seed=11)


@pytest.fixture
def pushed(server: ServerRepo, make_repo: Callable[[str], Repository]) -> tuple[Repository, str]:
    """A client that pushed master (30 rows) to ``server``."""
    repo = make_repo("client")
    head = add_rows(repo, "master", "dota", ROWS[:30], "first games")
    repo.remote.add("origin", server.address)
    repo.remote.push("origin", "master")
    return repo, head


# -- non-fast-forward ----------------------------------------------------------------------------
# (refused by the client before anything is sent, so two transports suffice; the server's own
# compare-and-swap refusal is in test_integrity.py and test_faults.py)
@pytest.mark.parametrize("server", ["file", "hangarssh"], indirect=True)
def test_non_fast_forward_push_is_refused(server: ServerRepo, pushed: tuple[Repository, str],
                                          make_repo: Callable[[str], Repository], tmp_path: Path) -> None:
    first, base = pushed
    other = Repository(tmp_path / "other", exists=False)
    other.clone("o", "o@x", server.address)
    other.remote.quiet = True
    theirs = add_rows(other, "master", "dota", ROWS[30:40], "their games", start=30)
    other.remote.push("origin", "master")
    assert server.head("master") == theirs
    digests_before = server.digests()

    ours = add_rows(first, "master", "dota", ROWS[40:60], "our games", start=30)
    with pytest.raises(NonFastForwardError, match=r"(?s)'master'.*non-fast-forward.*fetch") as err:
        first.remote.push("origin", "master")
    assert (err.value.remote, err.value.branch) == ("origin", "master")
    assert server.head("master") == theirs
    assert server.digests() == digests_before        # none of our data was sent
    assert first.branch_head("master") == ours        # our branch is untouched

    # after fetching their commit (but not merging) it is still refused
    first.remote.fetch("origin", "master")
    with pytest.raises(NonFastForwardError):
        first.remote.push("origin", "master")
    assert server.head("master") == theirs
    server.fsck()


# -- names ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda r: r.remote.push("nope", "master"),
    lambda r: r.remote.fetch("nope", "master"),
    lambda r: r.remote.fetch_data("nope", "master"),
    lambda r: r.remote.remove("nope"),
    lambda r: r.remote.connect("nope"),
], ids=["push", "fetch", "fetch_data", "remove", "connect"])
def test_unknown_remote_name(make_repo: Callable[[str], Repository], call: Callable[[Repository], Any]) -> None:
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:3], "games")
    with pytest.raises(NotFoundError, match=r"no remote named 'nope'.*remote add"):
        call(repo)


def test_unknown_remote_branch(server_address: Callable[[str], ServerRepo],
                               make_repo: Callable[[str], Repository]) -> None:
    server = server_address("path")
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:3], "games")
    repo.remote.add("origin", server.address)
    repo.remote.push("origin", "master")
    with pytest.raises(BranchNotFoundError, match="origin/add-train"):
        repo.remote.fetch("origin", "add-train")
    assert repo.list_branches() == ["master", "origin/master"]
    with pytest.raises(BranchNotFoundError, match="add-train"):
        repo.remote.fetch_data("origin", "add-train")
    with pytest.raises(BranchNotFoundError, match="add-train"):
        repo.remote.push("origin", "add-train")          # no such local branch
    assert server.heads() == {"master": repo.branch_head("master")}
    assert list(repo.ctx.git.list_refs("refs/hangar/remotes/")) == ["origin/master"]
    repo.remote.remove("origin")                      # forgets its remote-tracking branches too
    assert repo.ctx.git.list_refs("refs/hangar/remotes/") == {} and repo.remote.list_all() == []


def test_duplicate_and_invalid_remote_names(make_repo: Callable[[str], Repository]) -> None:
    from hangar_git import AlreadyExistsError, InvalidNameError
    repo = make_repo("client")
    repo.remote.add("origin", "/somewhere")
    with pytest.raises(AlreadyExistsError, match="'origin'"):
        repo.remote.add("origin", "/elsewhere")
    with pytest.raises(InvalidNameError):
        repo.remote.add("bad name", "/x")
    assert [(r.name, r.address) for r in repo.remote.list_all()] == [("origin", "/somewhere")]
    repo.remote.remove("origin")
    assert repo.remote.list_all() == []


# -- SSH authentication ---------------------------------------------------------------------------------------
@contextlib.contextmanager
def authorized_keys_replaced(server: ServerRepo, request: pytest.FixtureRequest) -> Iterator[None]:
    """While active, the server authorises only a throwaway key (not the client's)."""
    if server.kind == "openssh":
        path = Path(request.getfixturevalue("sshd_server").authorized_keys_path)
    else:
        path = request.getfixturevalue("hangar_ssh").authorized_keys
    saved = path.read_text()
    key = paramiko.ECDSAKey.generate()
    path.write_text(f"{key.get_name()} {key.get_base64()} someone-else@elsewhere\n")
    try:
        yield
    finally:
        path.write_text(saved)


@pytest.mark.parametrize("kind", SSH_KINDS)
def test_wrong_client_key(kind: str, server_address: Callable[[str], ServerRepo],
                          make_repo: Callable[[str], Repository], request: pytest.FixtureRequest) -> None:
    server = server_address(kind)
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:3], "games")
    repo.remote.add("origin", server.address)
    with authorized_keys_replaced(server, request):
        with pytest.raises(AuthenticationError, match="authentication failed"):
            repo.remote.push("origin", "master")
    assert server.heads() == {} and server.digests() == set()
    repo.remote.push("origin", "master")      # the right key again: accepted
    assert server.head("master") == repo.branch_head("master")


@contextlib.contextmanager
def host_key_forgotten(server: ServerRepo) -> Iterator[Path]:
    """While active, known_hosts does not list the server's host key."""
    known = Path(os.path.expanduser("~/.ssh/known_hosts"))
    saved = known.read_text()
    marker = f"[127.0.0.1]:{urlsplit(server.address).port} "
    known.write_text("".join(line for line in saved.splitlines(keepends=True) if not line.startswith(marker)))
    try:
        yield known
    finally:
        known.write_text(saved)


@pytest.mark.parametrize("kind", SSH_KINDS)
def test_unknown_host_key(kind: str, server_address: Callable[[str], ServerRepo],
                          make_repo: Callable[[str], Repository]) -> None:
    server = server_address(kind)
    repo = make_repo("client")
    head = add_rows(repo, "master", "dota", ROWS[:3], "games")
    repo.remote.add("origin", server.address)
    port = urlsplit(server.address).port
    with host_key_forgotten(server) as known:
        with pytest.raises(HostKeyError, match=r"host key .* is unknown.*trust-host-key") as err:
            repo.remote.push("origin", "master")
        assert err.value.fingerprint
        assert server.heads() == {}
        repo.remote.trust_host_key = True
        assert repo.remote.push("origin", "master") == "master"
        assert server.head("master") == head
        assert f"[127.0.0.1]:{port} " in known.read_text()     # remembered from now on
        repo.remote.trust_host_key = False
        with pytest.warns(UserWarning, match="nothing to fetch"):  # connected: the key is known
            assert repo.remote.fetch("origin", "master") == "master"


def test_clone_from_an_unknown_host_honours_trust_host_key(server_address: Callable[[str], ServerRepo],
                                                           make_repo: Callable[[str], Repository],
                                                           tmp_path: Path) -> None:
    # regression: clone used a Remotes of its own, so repo.remote.trust_host_key was ignored
    server = server_address("hangarssh")
    origin = make_repo("origin")
    head = add_rows(origin, "master", "dota", ROWS[:3], "games")
    origin.remote.add("origin", server.address)
    origin.remote.push("origin", "master")
    with host_key_forgotten(server):
        clone = Repository(tmp_path / "clone", exists=False)
        with pytest.raises(HostKeyError):
            clone.clone("c", "c@x", server.address)
        clone.remote.trust_host_key = True
        assert clone.clone("c", "c@x", server.address, remove_old=True) == "master"
        assert clone.branch_head("master") == head


def test_a_failed_clone_can_be_retried_with_remove_old(server_address: Callable[[str], ServerRepo],
                                                       make_repo: Callable[[str], Repository],
                                                       tmp_path: Path) -> None:
    # regression: the failed clone's "origin" remote made the retry fail with AlreadyExistsError
    server = server_address("path")
    origin = make_repo("origin")
    head = add_rows(origin, "master", "dota", ROWS[:3], "games")
    origin.remote.add("origin", server.address)
    origin.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    with pytest.raises(RemoteError, match="no such directory"):
        clone.clone("c", "c@x", str(tmp_path / "typo"))
    assert clone.clone("c", "c@x", server.address, remove_old=True) == "master"
    assert clone.branch_head("master") == head
    assert [(r.name, r.address) for r in clone.remote.list_all()] == [("origin", server.address)]


def test_changed_host_key_is_refused_even_when_trusting(server_address: Callable[[str], ServerRepo],
                                                      make_repo: Callable[[str], Repository]) -> None:
    server = server_address("hangarssh")
    repo = make_repo("client")
    repo.remote.add("origin", server.address)
    other = paramiko.ECDSAKey.generate()
    with host_key_forgotten(server) as known:
        with known.open("a") as fh:
            fh.write(f"[127.0.0.1]:{urlsplit(server.address).port} {other.get_name()} {other.get_base64()}\n")
        repo.remote.trust_host_key = True
        with pytest.raises(HostKeyError, match="CHANGED"):
            repo.remote.fetch("origin", "master")


# -- what the server serves -------------------------------------------------------------------------------------
def test_path_outside_the_server_root(server_address: Callable[[str], ServerRepo],
                                      make_repo: Callable[[str], Repository], tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    inside = server_address("hangarssh")
    root = Path(request.getfixturevalue("hangar_ssh").server.root)
    outside = init_bare(tmp_path / "outside.git")             # a real repo, just not served
    (inside.path.parent / "escape").symlink_to(outside)
    base = inside.address.rsplit("/", 2)[0]                   # ssh://user@127.0.0.1:PORT
    rel_to_root = os.path.relpath(outside, root)
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:3], "games")
    for i, address in enumerate([f"{base}/{rel_to_root}", f"{base}/{os.path.relpath(inside.path.parent, root)}/escape",
                                 f"{base}/..{outside}"]):
        repo.remote.add(f"r{i}", address)
        with pytest.raises(RemoteError, match="outside the served directory"):
            repo.remote.push(f"r{i}", "master")
    assert ServerRepo("path", outside, str(outside)).heads() == {}


@pytest.mark.parametrize("kind, what", [
    *((kind, "plain-git") for kind in KINDS),
    ("path", "empty-dir"), ("hangarssh", "empty-dir"), ("path", "missing"), ("hangarssh", "missing"),
])
def test_not_a_hangar_repository_on_the_server(kind: str, what: str,
                                               server_address: Callable[[str], ServerRepo],
                                               make_repo: Callable[[str], Repository]) -> None:
    server = server_address(kind)            # for the address form; point it at a sibling
    target = server.path.parent / f"not-hangar-{what}"
    if what == "empty-dir":
        target.mkdir()
    elif what == "plain-git":
        import subprocess
        subprocess.run(["git", "init", "-q", "--bare", str(target)], check=True)
    address = server.address.replace(server.path.name, target.name)
    repo = make_repo("client")
    add_rows(repo, "master", "dota", ROWS[:3], "games")
    repo.remote.add("origin", address)
    expected = "no such directory" if (what == "missing" and kind in ("path", "file")) else "no hangar repository"
    with pytest.raises(RemoteError, match=expected):
        repo.remote.push("origin", "master")
    assert not (target / "hangar").exists()


# -- relative local addresses ------------------------------------------------------------------------
def test_relative_local_addresses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative remote path is relative to the repository (as in git), whatever the cwd;
    a clone of a relative path records it absolute (as git clone does).

    Regression: both were resolved against the process's cwd, so a clone made
    with ``git hangar clone srv.git b`` could not fetch from inside ``b``."""
    init_bare(tmp_path / "srv.git")
    work = tmp_path / "work"
    work.mkdir()
    first = Repository(work / "first", exists=False)
    first.init("f", "f@x")
    first.remote.quiet = True
    head = add_rows(first, "master", "dota", ROWS[:3], "games")
    first.remote.add("origin", "../../srv.git")              # relative to work/first
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    first.remote.push("origin", "master")
    assert ServerRepo("path", tmp_path / "srv.git", "").head("master") == head

    monkeypatch.chdir(tmp_path)
    clone = Repository(work / "clone", exists=False)
    clone.clone("c", "c@x", "srv.git")
    assert clone.remote.list_all()[0].address == str(tmp_path / "srv.git")
    monkeypatch.chdir(elsewhere)
    clone.remote.quiet = True
    assert clone.remote.fetch_data("origin", "master") == [head]


# -- data that is nowhere ---------------------------------------------------------------------------------
def test_push_of_data_this_machine_does_not_have_is_refused(server_address: Callable[[str], ServerRepo],
                                                            make_repo: Callable[[str], Repository],
                                                            tmp_path: Path) -> None:
    """A partial clone can push to its origin (which has the data) but not to an empty remote."""
    origin_server, other_server = server_address("hangarssh"), server_address("hangarssh")
    origin = make_repo("origin")
    add_rows(origin, "master", "dota", ROWS[:20], "games")
    origin.remote.add("origin", origin_server.address)
    origin.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", origin_server.address)
    clone.remote.quiet = True
    new = add_rows(clone, "master", "dota", ROWS[20:25], "more games", start=20)
    clone.remote.add("other", other_server.address)
    with pytest.raises(HangarError, match=r"20 sample\(s\).*neither this machine nor 'other'.*fetch-data"):
        clone.remote.push("other", "master")
    assert other_server.heads() == {} and other_server.digests() == set()
    clone.remote.push("origin", "master")                     # the origin has the old data
    assert origin_server.head("master") == new
    clone.remote.fetch_data("origin", "master")               # once the data is here, other works too
    clone.remote.push("other", "master")
    assert other_server.head("master") == new and len(other_server.digests()) == 25
    other_server.fsck()
