"""Access rules of `git hangar server --access` and of `git hangar serve --user` (forced commands)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import PermissionDeniedError, RemoteError
from hangar_git.transport.rpc import Session
from tests.remote.conftest import init_bare

from .conftest import ForcedSSHD, TeamServer, client

ROWS = np.arange(40, dtype=np.int64).reshape(10, 4)


def commit_rows(repo: Any, start: int = 0) -> str:
    with repo.checkout(write=True) as co:
        col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=ROWS[0])
        for i, row in enumerate(ROWS, start):
            col[i] = row + start
        return co.commit(f"rows from {start}")


def refusal(address: str, tmp_path: Path, name: str) -> str:
    """The error a clone of ``address`` gives, with the address itself taken out."""
    repo = client(tmp_path, name)
    repo.remote.add("origin", address)
    with pytest.raises(RemoteError) as caught:
        repo.remote.fetch("origin", "master")
    # what the server said (the client's own first line depends on how the hang-up raced its hello)
    return "\n".join(line for line in str(caught.value).splitlines() if not line.startswith("ssh://"))


@pytest.fixture(params=["server", "forced"])
def where(request: pytest.FixtureRequest) -> TeamServer | ForcedSSHD:
    """The same rules through `git hangar server` and through OpenSSH forced commands."""
    return request.getfixturevalue("team_server" if request.param == "server" else "forced_sshd")


def init(where: TeamServer | ForcedSSHD, repo: str) -> Path:
    path = where.root / repo
    path.parent.mkdir(parents=True, exist_ok=True)
    return init_bare(path)


def test_writer_pushes_reader_reads_but_cannot_push(where: Any, tmp_path: Path) -> None:
    name = f"team/a{id(tmp_path)}.git"
    init(where, name)
    alice = client(tmp_path, "alice")
    head = commit_rows(alice)
    alice.remote.add("origin", where.url("alice", name))
    alice.remote.push("origin", "master")

    bob = client(tmp_path, "bob")
    bob.remote.add("origin", where.url("bob", name))
    bob.remote.fetch("origin", "master")
    assert bob.remote.list_remote_branches("origin") == {"master": head}
    bob.remote.fetch_data("origin", "master")
    repo = Repository(tmp_path / "bob-clone", exists=False)
    repo.clone("bob", "bob@x", where.url("bob", name))
    repo.remote.quiet = True
    commit_rows(repo, 10)
    with pytest.raises(PermissionDeniedError, match="may read this repository but not push"):
        repo.remote.push("origin", "master")
    assert Repository(where.root / name).ctx.git.list_refs("refs/hangar/heads/") == {"master": head}


def test_unreadable_repository_does_not_exist(where: Any, tmp_path: Path) -> None:
    init(where, "secret.git")
    hidden = refusal(where.url("bob", "secret.git"), tmp_path, "bob")
    missing = refusal(where.url("bob", "nothere.git"), tmp_path, "bob")
    assert "no hangar repository '/secret.git'" in hidden
    assert hidden.replace("secret", "nothere") == missing
    assert str(where.root) not in hidden + missing
    carol_team = refusal(where.url("carol", "team/x.git"), tmp_path, "carol")
    assert "no hangar repository '/team/x.git'" in carol_team


def test_globs(where: Any, tmp_path: Path) -> None:
    init(where, "pub/deep/er/open.git")
    init(where, "team/sub/nested.git")
    carol = client(tmp_path, "carol")
    carol.remote.add("origin", where.url("carol", "pub/deep/er/open.git"))
    assert carol.remote.list_remote_branches("origin") == {}
    # `*` stays inside one path component: team/*.git does not reach team/sub/nested.git
    nested = refusal(where.url("alice", "team/sub/nested.git"), tmp_path, "alice")
    assert "no hangar repository '/team/sub/nested.git'" in nested



def test_read_only_push_sends_no_data(team_server: TeamServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a read-only key's push streamed its data and the server refused the first
    data frame and hung up mid-stream, so the client could see `connection lost` instead of
    the refusal (flaky in test_log). The refusal now comes before any data is sent."""
    name = f"team/ro{id(tmp_path)}.git"
    init(team_server, name)
    bob = client(tmp_path, "bob")
    with bob.checkout(write=True) as co:
        col = co.add_ndarray_column("big", prototype=np.zeros(1 << 16, dtype=np.uint8))
        for i in range(64):                                   # 4 MiB to push
            col[i] = np.full(1 << 16, i, dtype=np.uint8)
        co.commit("big")
    bob.remote.add("origin", team_server.url("bob", name))
    sent: list[str] = []
    original = Session.send

    def send(session: Session, kind: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(kind)
        return original(session, kind, *args, **kwargs)
    monkeypatch.setattr(Session, "send", send)
    with pytest.raises(PermissionDeniedError, match="may read this repository but not push"):
        bob.remote.push("origin", "master")
    assert not {"put_data", "put_objects", "data", "part"} & set(sent), sent
    refused = team_server.wait_log(lambda l: l["repo"] == name and l["op"] == "push")
    assert refused["result"] == "denied" and refused["bytes_in"] < 64 << 10, refused
    assert Repository(team_server.root / name).ctx.git.list_refs("refs/hangar/heads/") == {}
