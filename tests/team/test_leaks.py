"""No server path in anything a client sees: requested paths and protocol requests, fuzzed."""
from __future__ import annotations

import random
from typing import Any

import pytest

from hangar_git.errors import HangarError
from hangar_git.transport import connect
from tests.remote.conftest import init_bare

from .conftest import TeamServer

PATHS = ["", "/", "~", "~root", "~/../x", "..", "../x", "/../../etc/passwd", "team", "team/",
         "team/nothere.git", "team/a.git/objects", "team/a.git/../../..", ".hangar-server/host_key",
         "secret.git", "pub", "pub/x.git", "/" * 300, "x" * 5000, "team/\u00e9t\u00e9.git", "a\0b",
         "team/notrepo", "team/file.txt", "'; ls /", "$(id)", "pub/plain.git"]


def exec_stderr(server: TeamServer, key: str, command: str) -> str:
    """What the server says on stderr for ``command`` (after sending it garbage)."""
    pipe = connect.ssh_vendor.run_command(f"{key}.team", server.port, None, command)
    try:
        try:
            pipe.writer.write(b"HGF1 not a frame at all")
            pipe.writer.flush()
            pipe.reader.read(1 << 16)
        except OSError:
            pass
        return pipe.describe_failure()
    finally:
        pipe.close()


@pytest.fixture(scope="module")
def layout(team_server: TeamServer) -> TeamServer:
    init_bare(team_server.root / "team" / "a.git")
    (team_server.root / "team" / "notrepo").mkdir(exist_ok=True)
    (team_server.root / "team" / "file.txt").write_text("x")
    import pygit2
    pygit2.init_repository(str(team_server.root / "pub" / "plain.git"), bare=True)  # git, not hangar
    return team_server


@pytest.mark.parametrize("key", ["alice", "carol"])
def test_requested_paths_never_leak(layout: TeamServer, key: str) -> None:
    root = str(layout.root)
    for path in PATHS:
        for command in (f"git-hangar serve {connect.quote_remote_path(path)}", f"git hangar serve '{path}'",
                        "sh", path):
            said = exec_stderr(layout, key, command)
            assert root not in said and "/tmp" not in said, (command, said)
            assert "git hangar init" not in said, (command, said)


STREAMED = ("put_objects", "put_data")


def _fuzzed_requests(rng: random.Random) -> list[tuple[str, dict[str, Any], bytes]]:
    oid = "".join(rng.choice("0123456789abcdef") for _ in range(40))
    values: list[Any] = [oid, oid[:7], "", None, 1, [], {}, ["x"], "../" * 20, "/etc", "master", "a" * 300]
    kinds = ["list_refs", "fetch_objects", "put_objects", "update_ref", "missing_data", "data_sizes",
             "get_data", "put_data", "nonsense", "hello"]
    fields = ["wants", "haves", "branch", "new", "old", "digests", "count", "parts"]
    return [(rng.choice(kinds), {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(0, 4))},
             rng.randbytes(rng.choice([0, 1, 32, 33, 100]))) for _ in range(rng.randint(1, 4))]


def test_fuzzed_requests_never_leak(layout: TeamServer) -> None:
    rng = random.Random(15)
    root, seen = str(layout.root), 0
    for _ in range(60):
        session = connect.open_session(layout.url("alice", "team/a.git"))
        try:
            for kind, header, payload in _fuzzed_requests(rng):
                try:
                    session.send(kind, header, payload)
                    if kind in STREAMED:  # their input ends with an ``end`` frame
                        session.send("end", {})
                    text = repr(session.recv().header)
                except HangarError as exc:
                    text = f"{exc!r} {vars(exc)}"
                    seen += 1
                assert root not in text and "/tmp" not in text, (kind, header, text)
        except HangarError:
            pass
        finally:
            session.close(graceful=False)
    assert seen > 30
