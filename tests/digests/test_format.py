"""The digest algorithm is stated where records and peers meet: ``hangar.json`` in every
commit tree, and both ends' ``hello``. Anything else is refused with one clear line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hangar_git import Repository
from hangar_git.errors import HangarError, ProtocolError, RecordFormatError
from hangar_git.transport.connect import open_local_session_in_process
from hangar_git.transport.rpc import PROTOCOL_VERSION, ServiceHandler

from .. import subprocesses


def git(repo: Path, *args: str, stdin: str = "") -> str:
    return subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True,
                          check=True).stdout.strip()


def restate_format(repo: Path, text: str) -> None:
    """Rewrite master's head as a commit whose hangar.json says ``text`` (as another version would)."""
    head = git(repo, "rev-parse", "refs/hangar/heads/master")
    entries = git(repo, "ls-tree", f"{head}^{{tree}}").splitlines()
    blob = git(repo, "hash-object", "-w", "--stdin", stdin=text)
    lines = [f"100644 blob {blob}\thangar.json" if e.endswith("\thangar.json") else e for e in entries]
    tree = git(repo, "mktree", stdin="\n".join(lines) + "\n")
    commit = git(repo, "commit-tree", tree, "-p", head, "-m", "written elsewhere")
    git(repo, "update-ref", "refs/hangar/heads/master", commit)


@pytest.fixture
def committed(repo: Repository) -> Path:
    with repo.checkout(write=True) as co:
        co.add_str_column("c")["k"] = "v"
        co.commit("one")
    return Path(repo.path)


def test_commit_trees_state_format_2_and_blake3(committed: Path) -> None:
    stated = json.loads(git(committed, "cat-file", "-p", "refs/hangar/heads/master:hangar.json"))
    assert stated == {"format": 2, "digest": "blake3"}


@pytest.mark.parametrize("text, found", [
    ('{"format": 1}\n', "format 1, digest 'sha256'"),
    ('{"digest": "sha256", "format": 2}\n', "format 2, digest 'sha256'"),
    ('{"digest": "blake3", "format": 3}\n', "format 3, digest 'blake3'"),
    ("not json", "an unreadable hangar.json"),
], ids=["format-1", "other-digest", "newer-format", "garbage"])
def test_a_tree_of_another_format_is_refused_in_one_line(committed: Path, text: str, found: str) -> None:
    restate_format(committed, text)
    with pytest.raises(RecordFormatError) as err:
        Repository(committed).checkout()
    message = str(err.value)
    assert "\n" not in message and found in message
    assert "incompatible development version" in message and "format 2, digest 'blake3'" in message
    cli = subprocess.run([str(Path(sys.executable).parent / "git-hangar"), "summary"], cwd=committed,
                         capture_output=True, text=True, env=subprocesses.python_env(), timeout=60)
    assert cli.returncode != 0 and "incompatible development version" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_a_server_of_another_digest_is_refused() -> None:
    class Sha256Server(ServiceHandler):
        def hello_info(self) -> dict:
            return {"digest": "sha256"}
    with pytest.raises(ProtocolError, match="server names samples by 'sha256' digests, we by 'blake3'"):
        open_local_session_in_process(Sha256Server())


@pytest.mark.parametrize("hello", [{"protocol": 1}, {"protocol": PROTOCOL_VERSION, "digest": "sha256"}],
                         ids=["protocol-1-client", "sha256-client"])
def test_a_client_of_another_digest_is_refused(hello: dict) -> None:
    with open_local_session_in_process(ServiceHandler()) as session:
        assert session.server_info["digest"] == "blake3"
        with pytest.raises(HangarError, match="the client names samples by 'sha256' digests"):
            session.call("hello", hello)
