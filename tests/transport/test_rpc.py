"""Request/response and streaming over the in-process and local-subprocess transports."""
from __future__ import annotations

import io
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from hangar_git import errors
from hangar_git.errors import (BranchNotFoundError, HangarError, NonFastForwardError, NotFoundError,
                               ProtocolError, RemoteError)
from hangar_git.transport import connect
from hangar_git.transport.connect import open_local_session_in_process, open_session
from hangar_git.transport.framing import Frame, FrameReader, FrameWriter
from hangar_git.transport.rpc import (PROTOCOL_VERSION, ServiceHandler, Session, Stream,
                                      exception_from_error, rpc_method, serve)

from .conftest import serve_command


class Handler(ServiceHandler):
    """A toy service exercising every handler shape."""

    def __init__(self) -> None:
        self.stored: list[bytes] = []

    @rpc_method("put")
    def put_objects(self, request: Frame, stream: Stream) -> Any:
        for frame in stream.recv_until("end"):
            if frame.kind != "batch":
                raise ProtocolError(f"expected batch, got {frame.kind!r}")
            self.stored.append(bytes(frame.payload))
            if request.header.get("fail_after") == len(self.stored):
                raise errors.IntegrityError("object 3 is corrupt", expected="aa", got="bb")
        return {"stored": len(self.stored)}

    @rpc_method
    def get(self, request: Frame, stream: Stream) -> Any:
        for i in range(request.header["n"]):
            stream.send("batch", {"i": i}, bytes([i]) * 10)
        return {"sent": request.header["n"]}

    @rpc_method
    def branch(self, request: Frame, stream: Stream) -> Any:
        raise BranchNotFoundError(request.header["name"])

    @rpc_method
    def push(self, request: Frame, stream: Stream) -> Any:
        raise NonFastForwardError("origin", "master")

    @rpc_method
    def custom(self, request: Frame, stream: Stream) -> Any:
        return Frame("custom-reply", {"x": 1}, b"payload")

    @rpc_method
    def bug(self, request: Frame, stream: Stream) -> Any:
        return {}["missing"]


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def session(handler: Handler) -> Session:
    with open_local_session_in_process(handler) as s:
        yield s


def test_hello_lists_methods(session: Session) -> None:
    assert session.server_info["protocol"] == PROTOCOL_VERSION
    assert {"hello", "echo", "discard", "put", "get", "branch"} <= set(session.server_info["methods"])


def test_echo_and_custom_reply(session: Session) -> None:
    assert session.call("echo", {"a": [1, 2]}, b"\x00\xff") == ("ok", {"a": [1, 2]}, b"\x00\xff")
    assert session.call("custom") == ("custom-reply", {"x": 1}, b"payload")


def test_streaming_upload(session: Session, handler: Handler) -> None:
    session.send("put")
    for i in range(1000):
        session.send("batch", {}, b"%d" % i)
    session.send("end")
    assert session.recv().header == {"stored": 1000}
    assert handler.stored[999] == b"999"


def test_streaming_download(session: Session) -> None:
    frames = list(session.stream("get", {"n": 5}))
    assert [f.header for f in frames] == [{"i": i} for i in range(5)] + [{"sent": 5}]
    assert frames[-1].kind == "ok" and frames[3].payload == b"\x03" * 10


def test_discard_counts_bytes(session: Session) -> None:
    assert session.call("discard", {}, b"abc").header == {"frames": 0, "bytes": 3}
    session.send("discard", {"stream": True})
    for _ in range(10):
        session.send("data", {}, b"x" * 1000)
    session.send("end")
    assert session.recv().header == {"frames": 10, "bytes": 10_000}


def test_error_is_reraised_as_its_class_with_attributes(session: Session) -> None:
    with pytest.raises(BranchNotFoundError, match="branch 'nope' does not exist") as info:
        session.call("branch", {"name": "nope"})
    assert isinstance(info.value, NotFoundError) and isinstance(info.value, KeyError)
    assert info.value.branch == "nope"
    with pytest.raises(NonFastForwardError, match="non-fast-forward") as nff:
        session.call("push")  # the session survived the first error
    assert (nff.value.remote, nff.value.branch) == ("origin", "master")
    assert session.call("echo", {"still": "alive"}).header == {"still": "alive"}


def test_error_mid_stream_reaches_the_client_and_ends_the_session(session: Session) -> None:
    session.send("put", {"fail_after": 3})
    with pytest.raises(errors.IntegrityError, match="object 3 is corrupt") as info:
        for i in range(100_000):  # far more than any pipe buffer: the server hangs up mid-stream
            session.send("batch", {}, b"x" * 100)
        session.send("end")
        session.recv()
    assert (info.value.expected, info.value.got) == ("aa", "bb")
    with pytest.raises(RemoteError):
        session.call("echo")


def test_bug_in_handler_is_an_internal_error(session: Session) -> None:
    with pytest.raises(RemoteError, match=r"internal server error in 'bug': KeyError: 'missing'"):
        session.call("bug")


def test_unknown_request_is_a_protocol_error(session: Session) -> None:
    with pytest.raises(ProtocolError, match="unknown request 'frobnicate'"):
        session.call("frobnicate")


@pytest.mark.parametrize("header, cls, message", [
    ({"type": "BranchNotFoundError", "message": "m"}, BranchNotFoundError, "m"),
    ({"type": "SystemExit", "message": "m"}, RemoteError, "SystemExit: m"),
    ({"type": "join_names", "message": "m"}, RemoteError, "join_names: m"),
    ({"type": "__builtins__", "message": "m"}, RemoteError, "__builtins__: m"),
    ({"type": ["x"], "message": "m"}, RemoteError, "m"),
    ({}, RemoteError, "remote error"),
], ids=["known", "builtin-exception", "function", "dunder", "not-a-string", "empty"])
def test_only_hangar_errors_are_rebuilt(header: dict, cls: type, message: str) -> None:
    exc = exception_from_error({**header, "attrs": {"_private": 1, "ok": 2}})
    assert type(exc) is cls and message in str(exc)
    assert exc.ok == 2 and not hasattr(exc, "_private")


def test_protocol_version_mismatch() -> None:
    class Future(ServiceHandler):
        def hello_info(self) -> dict:
            return {"protocol": 99}
    with pytest.raises(ProtocolError, match="server speaks protocol 99"):
        open_local_session_in_process(Future())


def raw_server(data: bytes) -> tuple[list[Frame], bool]:
    """Feed ``data`` to serve(); return the frames it answered and whether it returned."""
    out = io.BytesIO()
    done = threading.Event()

    def run() -> None:
        serve(io.BufferedReader(io.BytesIO(data)), out, ServiceHandler())  # type: ignore[arg-type]
        done.set()
    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    replies = []
    reader = FrameReader(io.BytesIO(out.getvalue()))
    while True:
        try:
            replies.append(reader.recv())
        except HangarError:
            return replies, done.is_set()


def test_serve_answers_garbage_with_one_error_and_stops() -> None:
    replies, finished = raw_server(b"SSH-2.0-OpenSSH\r\n" + b"\x00" * 100)
    assert finished and [f.kind for f in replies] == ["error"]
    assert replies[0].header["type"] == "ProtocolError"


def test_serve_stops_at_bye_and_at_eof() -> None:
    out = io.BytesIO()
    w = FrameWriter(out)
    w.send("echo", {"n": 1})
    w.send("bye")
    w.send("echo", {"n": 2})
    replies, finished = raw_server(out.getvalue())
    assert finished and [(f.kind, f.header) for f in replies] == [("ok", {"n": 1}), ("ok", {})]
    assert raw_server(b"") == ([], True)


def test_session_reports_a_dead_server() -> None:
    client, server = socket.socketpair()
    server.close()
    session = Session(client.makefile("rb"), client.makefile("wb"), client.close, address="dead:")
    with pytest.raises(RemoteError, match="dead:: (the remote closed the connection|connection lost)"):
        session.call("echo")
    session.close()


# -- local subprocess ------------------------------------------------------------
@pytest.fixture
def local_server(monkeypatch: pytest.MonkeyPatch, fake_home: Path) -> None:
    monkeypatch.setattr(connect, "local_server_command", serve_command)


@pytest.mark.parametrize("form", ["path", "file-url", "relative"])
def test_local_path_runs_a_subprocess(local_server: None, tmp_path: Path, form: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "my repo"
    repo.mkdir()
    monkeypatch.chdir(tmp_path)
    address = {"path": str(repo), "file-url": "file://" + str(repo).replace(" ", "%20"),
               "relative": "./my repo"}[form]
    with open_session(address) as s:
        assert s.call("echo", {}, b"z" * 1_000_000).payload == b"z" * 1_000_000


def test_local_path_must_exist(local_server: None, tmp_path: Path) -> None:
    with pytest.raises(RemoteError, match="no such directory"):
        open_session(str(tmp_path / "missing"))


def test_local_server_that_dies_reports_its_stderr(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(connect, "local_server_command", lambda path: [
        sys.executable, "-c", "import sys; sys.stderr.write('fatal: not a hangar repository\\n'); sys.exit(3)"])
    with pytest.raises(RemoteError, match=r"(?s)(remote closed the connection|connection lost).*fatal: not a hangar "
                                          r"repository.*exit status 3"):
        open_session(str(tmp_path))


def test_missing_server_program(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(connect, "local_server_command", lambda path: [str(tmp_path / "no-such-exe")])
    with pytest.raises(RemoteError, match="cannot start the local server"):
        open_session(str(tmp_path))


def test_default_local_command_prefers_installed_script(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", os.pathsep.join([]))
    assert connect.default_local_server_command("/r") == [sys.executable, "-m", "hangar_git", "serve", "/r"]
