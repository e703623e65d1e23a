"""Transport: framed protocol, request/response, SSH client and server.

Repository-agnostic: this package imports only hangar_git.errors, the
standard library and paramiko/tqdm. SSH pieces load lazily.
"""
from __future__ import annotations

from typing import Any

from .framing import Frame, FrameReader, FrameWriter
from .rpc import ServiceHandler, Session, Stream, rpc_method, serve

_LAZY = {  # what a server answering a request does not need (serve starts on every operation)
    "RemoteAddress": "address", "parse_address": "address",
    "open_session": "connect", "open_local_session_in_process": "connect",
    "measure_raw_channel_throughput": "connect", "SSHVendor": "ssh", "ParamikoSSHVendor": "ssh",
    "HangarSSHServer": "sshserver", "run_server": "sshserver", "progress": "progress",
}

__all__ = ["Frame", "FrameReader", "FrameWriter", "RemoteAddress", "ServiceHandler", "Session",
           "Stream", "parse_address", "rpc_method", "serve", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
