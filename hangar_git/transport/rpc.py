"""Request/response (and streaming) over frames.

Conversation rules (permanent, both sides rely on them):

* The client sends a request frame whose kind names a handler method; the
  handler may exchange any number of further frames with the client and
  finally answers with one terminal frame: ``ok`` (its return value) or
  ``error``.
* An ``error`` frame carries ``{"type": <class name>, "message": str,
  "attrs": {...}}``. The client re-raises the hangar_git.errors class of
  that name when there is one, else :class:`RemoteError`.
* After an error the server keeps the session only if the failed handler
  read nothing beyond its request and the error was a HangarError (not a
  ProtocolError); otherwise the stream state is unknown and it hangs up.
  A client whose write fails because of that hang-up gets the server's
  error, not a broken pipe.
* ``bye`` (or EOF) ends the session.
* Frames are buffered until a ``flush`` or a ``recv``. A handler should read
  all of a client's streamed input before streaming large output back (and
  vice versa), or both ends can block on full pipes.
"""
from __future__ import annotations

import json
from typing import Any, Callable, Iterator, TypeVar

from hangar_git import errors
from hangar_git.errors import ConnectionClosed, HangarError, PermissionDeniedError, ProtocolError, RemoteError

from ..storage.identity import DIGEST_ALGORITHM
from .auditlog import Activity
from .logs import logger
from .framing import (DEFAULT_MAX_PAYLOAD, Frame, FrameReader, FrameWriter, Reader,
                      Writer)

PROTOCOL_VERSION = 2
"""Protocol 2 names samples by BLAKE3 digests (protocol 1: SHA-256); both ends state theirs."""
_PENDING_ANSWERS_READ = 64
"""How many frames a failed write looks through for the server's error: the answers to the
requests pipelined before the one it refused come first."""
F = TypeVar("F", bound=Callable[..., Any])
Payload = bytes | bytearray | memoryview | list[Any]
Reply = None | dict[str, Any] | tuple[dict[str, Any], Payload] | Frame


class Stream:
    """One side of a framed conversation: ``send`` queues, ``recv`` flushes then reads."""

    def __init__(self, reader: Reader, writer: Writer, *,
                 max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._frames = FrameReader(reader, max_payload=max_payload)
        self._out = FrameWriter(writer, max_payload=max_payload)
        self.frames_received = 0

    def send(self, kind: str, header: dict[str, Any] | None = None,
             payload: Payload | None = b"") -> None:
        self._out.send(kind, header, payload)

    def flush(self) -> None:
        self._out.flush()

    def recv(self) -> Frame:
        self._out.flush()
        frame = self._frames.recv()
        self.frames_received += 1
        return frame

    def recv_until(self, end: str = "end") -> Iterator[Frame]:
        """Yield frames until one of kind ``end`` (not yielded) arrives."""
        while (frame := self.recv()).kind != end:
            yield frame


# -- server side ---------------------------------------------------------------
def rpc_method(kind: str | F | None = None, *, writes: bool = False) -> Any:
    """Mark a ServiceHandler method as the handler of request ``kind`` (default: its name);
    ``writes``: it changes the repository, so a read-only handler refuses it."""
    def mark(func: F, name: str | None = None) -> F:
        func.rpc_kind = name or func.__name__  # type: ignore[attr-defined]
        func.rpc_writes = writes  # type: ignore[attr-defined]
        return func
    if callable(kind):
        return mark(kind)
    return lambda func: mark(func, kind)


def _public(text: str) -> str:
    return text


class ServiceHandler:
    """Server-side dispatcher; subclasses add methods with :func:`rpc_method`.

    A method is called as ``method(request: Frame, stream: Stream)`` and
    returns None, a header dict, ``(header, payload)`` or a Frame to send
    as the terminal reply. Every handler has ``hello``, ``echo`` and
    ``discard``.
    """

    _methods: dict[str, str] = {}
    server_name = "hangar-git"
    read_only = False
    """Refuse every request that changes the repository (a key with ``r`` access)."""
    scrub: Callable[[str], str] = staticmethod(_public)
    """Rewrites error messages for the client (the server replaces its own paths)."""
    activity: Activity | None = None
    """When set, every request is recorded there (for the audit log)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _collect_methods(cls)

    def run(self, reader: Reader, writer: Writer) -> None:
        """Serve one connection (the SSH server and ``git hangar serve`` call this)."""
        serve(reader, writer, self)

    def hello_info(self) -> dict[str, Any]:
        """Extra facts for the ``hello`` reply; override to describe the repository."""
        return {}

    def method_for(self, kind: str) -> Callable[[Frame, Stream], Reply] | None:
        attr = self._methods.get(kind)
        return None if attr is None else getattr(self, attr)

    @rpc_method
    def hello(self, request: Frame, stream: Stream) -> Reply:
        digest = request.header.get("digest", "sha256")
        if digest != DIGEST_ALGORITHM:
            raise ProtocolError(f"the client names samples by {digest!r:.20} digests and this server by "
                                f"{DIGEST_ALGORITHM!r}: upgrade hangar-git on both sides")
        return {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM, "server": self.server_name,
                "methods": sorted(self._methods), **self.hello_info()}

    @rpc_method
    def echo(self, request: Frame, stream: Stream) -> Reply:
        return request.header, request.payload

    @rpc_method
    def discard(self, request: Frame, stream: Stream) -> Reply:
        """Swallow the request's payload and any ``data`` frames up to ``end``."""
        count, nbytes = 0, len(request.payload)
        if request.header.get("stream"):
            for frame in stream.recv_until("end"):
                count += 1
                nbytes += len(frame.payload)
        return {"frames": count, "bytes": nbytes}


def _collect_methods(cls: type[ServiceHandler]) -> None:
    """Record the request kinds ``cls`` handles (inherited ones included)."""
    found = dict(cls._methods)
    for attr, value in vars(cls).items():
        if callable(value) and hasattr(value, "rpc_kind"):
            found[value.rpc_kind] = attr
    cls._methods = found


_collect_methods(ServiceHandler)


def serve(reader: Reader, writer: Writer, handler: ServiceHandler, *,
          max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
    """Answer requests until the client says ``bye``, hangs up, or the stream breaks."""
    stream = Stream(reader, writer, max_payload=max_payload)
    try:
        while _serve_one(stream, handler):
            pass
        stream.flush()
    except (OSError, EOFError, ValueError) as exc:  # peer gone; ValueError: closed file
        logger(__name__).debug("connection lost: %s", exc)


def _serve_one(stream: Stream, handler: ServiceHandler) -> bool:
    try:
        request = stream.recv()
    except ConnectionClosed:
        return False
    except ProtocolError as exc:
        _send_error(stream, exc)
        return False
    if request.kind == "bye":
        stream.send("ok", {})
        return False
    return _dispatch(stream, handler, request)


def _dispatch(stream: Stream, handler: ServiceHandler, request: Frame) -> bool:
    method = handler.method_for(request.kind)
    if method is None:
        return _refuse(stream, handler, request, ProtocolError(f"unknown request {request.kind!r:.80}"))
    if handler.read_only and getattr(method, "rpc_writes", False):
        return _refuse(stream, handler, request, PermissionDeniedError(
            "this key may read this repository but not push to it"))
    seen = stream.frames_received
    if handler.activity is not None:
        handler.activity.current = request.kind
    try:
        reply = method(request, stream)
    except HangarError as exc:
        _note(handler, request, None, exc)
        _send_error(stream, exc, handler.scrub)
        return stream.frames_received == seen and not isinstance(exc, ProtocolError)
    except (OSError, EOFError):
        raise
    except Exception as exc:  # a bug in a handler: report it, keep the server alive
        logger(__name__).exception("handler for %r failed", request.kind)
        _note(handler, request, None, exc)
        _send_error(stream, RemoteError(f"internal server error in {request.kind!r}: "
                                        f"{type(exc).__name__}: {exc}"), handler.scrub)
        return False
    _note(handler, request, reply, None)
    _send_reply(stream, reply)
    return True


def _refuse(stream: Stream, handler: ServiceHandler, request: Frame, exc: HangarError) -> bool:
    """Answer a request we will not serve with ``exc`` and hang up (what follows it is unread)."""
    _note(handler, request, None, exc)
    _send_error(stream, exc, handler.scrub)
    return False


def _note(handler: ServiceHandler, request: Frame, reply: Reply, error: BaseException | None) -> None:
    if handler.activity is not None:
        handler.activity.record(request.kind, request.header, reply, error)


def _send_reply(stream: Stream, reply: Reply) -> None:
    if isinstance(reply, Frame):
        stream.send(reply.kind, reply.header, reply.payload)
    elif isinstance(reply, tuple):
        stream.send("ok", reply[0], reply[1])
    else:
        stream.send("ok", reply or {})


def error_header(exc: BaseException, scrub: Callable[[str], str] = _public) -> dict[str, Any]:
    """Describe an exception for an ``error`` frame (JSON-safe attributes only; ``scrub``
    rewrites the message and every string attribute)."""
    attrs = {}
    for key, value in vars(exc).items():
        if not key.startswith("_") and _json_safe(value):
            attrs[key] = scrub(value) if isinstance(value, str) else value
    return {"type": type(exc).__name__, "message": scrub(str(exc)), "attrs": attrs}


def _json_safe(value: Any) -> bool:
    try:
        return len(json.dumps(value)) < 64 << 10
    except (TypeError, ValueError):
        return False


def _send_error(stream: Stream, exc: BaseException, scrub: Callable[[str], str] = _public) -> None:
    stream.send("error", error_header(exc, scrub))
    stream.flush()


def exception_from_error(header: dict[str, Any], context: str = "") -> HangarError:
    """Rebuild the exception described by an ``error`` frame (never runs peer-chosen code)."""
    name = header.get("type")
    message = str(header.get("message", "remote error"))
    cls = getattr(errors, name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, HangarError)):
        cls, message = RemoteError, f"{context}{name}: {message}" if name else context + message
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    attrs = header.get("attrs")
    for key, value in (attrs.items() if isinstance(attrs, dict) else ()):
        if isinstance(key, str) and not key.startswith("_"):
            setattr(exc, key, value)
    return exc


# -- client side ---------------------------------------------------------------
class Session:
    """Client end of a connection; a context manager that says ``bye`` and closes.

    ``call`` sends one request and returns its reply; ``send``/``recv``
    stream. ``recv`` raises the remote exception when an ``error`` frame
    arrives and RemoteError if the connection breaks.
    """

    def __init__(self, reader: Reader, writer: Writer, closer: Callable[[], None] | None = None,
                 *, address: str = "", describe_failure: Callable[[], str] | None = None,
                 max_payload: int = DEFAULT_MAX_PAYLOAD) -> None:
        self._stream = Stream(reader, writer, max_payload=max_payload)
        self._closer = closer
        self._describe = describe_failure or (lambda: "")
        self.address = address
        self.server_info: dict[str, Any] = {}
        self.closed = False

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close(graceful=exc_type is None)

    def call(self, kind: str, header: dict[str, Any] | None = None,
             payload: Payload | None = b"") -> Frame:
        """Send one request and return the next frame (its reply)."""
        self.send(kind, header, payload)
        return self.recv()

    def send(self, kind: str, header: dict[str, Any] | None = None,
             payload: Payload | None = b"") -> None:
        """Queue a frame; it goes out at the next ``flush``/``recv`` or when buffers fill."""
        try:
            self._stream.send(kind, header, payload)
        except (OSError, ValueError) as exc:
            raise self._pending_error(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except (OSError, ValueError) as exc:
            raise self._pending_error(exc) from None

    def recv(self) -> Frame:
        try:
            frame = self._stream.recv()
        except ConnectionClosed:
            raise self._lost("the remote closed the connection") from None
        except ProtocolError as exc:
            raise ProtocolError(f"{self._where()}{exc}") from None
        except (OSError, ValueError, EOFError) as exc:
            raise self._lost(f"connection lost ({exc})") from None
        if frame.kind == "error":
            raise exception_from_error(frame.header, self._where())
        return frame

    def stream(self, kind: str, header: dict[str, Any] | None = None,
               payload: Payload | None = b"", *, end: str = "ok") -> Iterator[Frame]:
        """Send a request and yield the frames of its answer up to and including ``end``."""
        self.send(kind, header, payload)
        while True:
            frame = self.recv()
            yield frame
            if frame.kind == end:
                return

    def hello(self) -> dict[str, Any]:
        """Check the server speaks our protocol; returns and keeps its ``hello`` facts."""
        reply = self.call("hello", {"protocol": PROTOCOL_VERSION, "digest": DIGEST_ALGORITHM})
        if reply.header.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(f"{self._where()}server speaks protocol "
                                f"{reply.header.get('protocol')!r}, we speak {PROTOCOL_VERSION}: "
                                f"upgrade hangar-git on both sides")
        if reply.header.get("digest") != DIGEST_ALGORITHM:
            raise ProtocolError(f"{self._where()}server names samples by {reply.header.get('digest')!r:.20} "
                                f"digests, we by {DIGEST_ALGORITHM!r}: upgrade hangar-git on both sides")
        self.server_info = reply.header
        return reply.header

    def close(self, graceful: bool = True) -> None:
        """Say ``bye`` (when ``graceful``), then release the connection."""
        if self.closed:
            return
        self.closed = True
        try:
            if graceful:
                self._stream.send("bye", {})
                self._stream.recv()
        except (HangarError, OSError, ValueError, EOFError):
            pass
        finally:
            if self._closer is not None:
                self._closer()

    def _where(self) -> str:
        return f"{self.address}: " if self.address else ""

    def _lost(self, what: str) -> RemoteError:
        detail = self._describe().strip()
        return RemoteError(f"{self._where()}{what}" + (f"\nremote: {detail}" if detail else ""))

    def _pending_error(self, exc: BaseException) -> HangarError:
        """A write failed: the server probably hung up after an error frame; surface it (the
        answers to earlier pipelined requests that come before it are passed over)."""
        for _ in range(_PENDING_ANSWERS_READ):
            try:
                frame = self._stream._frames.recv()
            except (HangarError, OSError, ValueError, EOFError):
                break
            if frame.kind == "error":
                return exception_from_error(frame.header, self._where())
        return self._lost(f"connection lost while sending ({exc})")
