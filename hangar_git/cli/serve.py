"""Server commands: `serve` (protocol on stdin/stdout) and `server` (standalone SSH server)."""
from __future__ import annotations

import os
import signal
import sys

import click

from ..transport.service import RepositoryService, serve_stdio
from ..transport.sshserver import SHUTDOWN_TIMEOUT, run_server


@click.command("serve")
@click.argument("path", type=click.Path(file_okay=False))
def serve_command(path: str) -> None:
    """Speak the hangar protocol for the repository at PATH on stdin/stdout.

    This is what an SSH exec channel runs (like git-upload-pack); users do
    not call it directly. It ignores SIGINT: a Ctrl-C reaches the client
    too, which hangs up, and this process then ends at the end of its input.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(serve_stdio(path))


@click.command("server")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=50051, show_default=True, type=int, help="TCP port.")
@click.option("--root", required=True, type=click.Path(exists=True, file_okay=False),
              help="Serve only repositories under this directory.")
@click.option("--authorized-keys", "authorized_keys", required=True,
              type=click.Path(exists=True, dir_okay=False),
              help="OpenSSH authorized_keys file of the public keys allowed in.")
@click.option("--host-key", type=click.Path(dir_okay=False),
              help="Host private key (default: created under ROOT/.hangar-server/).")
@click.option("--shutdown-timeout", default=SHUTDOWN_TIMEOUT, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a stopping server lets operations in flight finish before it hangs up.")
def server_command(ip: str, port: int, root: str, authorized_keys: str, host_key: str | None,
                   shutdown_timeout: float) -> None:
    """Run a standalone SSH server for the repositories under --root.

    Public-key authentication only; clients may run nothing but the hangar
    protocol (no shell), on repositories inside ROOT. Stop with Ctrl-C or
    SIGTERM: it stops accepting, lets operations in flight finish (up to
    --shutdown-timeout seconds), hangs up on the rest and exits with status 0.
    """
    left = run_server(ip, port, os.path.abspath(root), authorized_keys, host_key_path=host_key,
                      handler_factory=RepositoryService, shutdown_timeout=shutdown_timeout)
    if left:  # threads still inside the store: do not tear the interpreter down under them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


COMMANDS = [serve_command, server_command]
