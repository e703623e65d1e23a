"""Server commands: `serve` (protocol on stdin/stdout) and `server` (standalone SSH server)."""
from __future__ import annotations

import os
import signal
import sys

import click

from ..transport.gate import SHUTDOWN_TIMEOUT

# The transport modules load in each command: `serve` answering a no-op push or fetch
# must not pay for paramiko (the standalone server's) nor for the storage layer.

_ACCESS_HELP = "Access rules: lines '<repository glob relative to the root> <key name> <r|rw>'."
_LOG_HELP = "Append one JSON line per connection and operation to this audit log."


@click.command("serve")
@click.argument("path", required=False, type=click.Path(file_okay=False))
@click.option("--user", help="Serve as this key name under the --access rules (OpenSSH forced command).")
@click.option("--access", type=click.Path(dir_okay=False), help=_ACCESS_HELP)
@click.option("--root", type=click.Path(file_okay=False),
              help="With --user: repositories are named relative to this directory [default: current directory].")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help=_LOG_HELP)
def serve_command(path: str | None, user: str | None, access: str | None, root: str | None,
                  log_path: str | None) -> None:
    """Speak the hangar protocol for the repository at PATH on stdin/stdout.

    This is what an SSH exec channel runs (like git-upload-pack); users do
    not call it directly. It ignores SIGINT: a Ctrl-C reaches the client
    too, which hangs up, and this process then ends at the end of its input.

    For a team on an OpenSSH host, give each key a forced command in
    ~/.ssh/authorized_keys, as gitolite does:

      command="git-hangar serve --user alice --access /srv/hangar/access --root /srv/hangar/repos" ssh-ed25519 AAAA... alice

    PATH then comes from the client's command, is taken inside --root, and the
    --access rules for alice apply, as in `git hangar server`.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..transport.stdio import serve_stdio, serve_user
    if user is None and (access or root or log_path):
        raise click.UsageError("--access, --root and --log need --user NAME (the key being served)")
    if user is None:
        if path is None:
            raise click.UsageError("give the repository PATH")
        sys.exit(serve_stdio(path))
    sys.exit(serve_user(path, user, access=access, root=root, log_path=log_path))


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
@click.option("--access", type=click.Path(exists=True, dir_okay=False),
              help=_ACCESS_HELP + " Without it every authorized key may read and push everything. "
              "Re-read when it changes and on SIGHUP.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), help=_LOG_HELP + " Reopened on SIGHUP.")
@click.option("--shutdown-timeout", default=SHUTDOWN_TIMEOUT, show_default=True, type=click.FloatRange(min=0),
              help="Seconds a stopping server lets operations in flight finish before it hangs up.")
def server_command(ip: str, port: int, root: str, authorized_keys: str, host_key: str | None,
                   access: str | None, log_path: str | None, shutdown_timeout: float) -> None:
    """Run a standalone SSH server for the repositories under --root.

    Public-key authentication only; clients may run nothing but the hangar
    protocol (no shell), on repositories inside ROOT. Each key is named by the
    comment of its authorized_keys line; --access grants names r or rw per
    repository (elsewhere a repository does not exist for that key). Stop with Ctrl-C or
    SIGTERM: it stops accepting, lets operations in flight finish (up to
    --shutdown-timeout seconds), hangs up on the rest and exits with status 0.
    """
    from ..bookkeeping.transfer import trust_stored_objects
    from ..transport.service import RepositoryService
    from ..transport.sshserver import run_server
    trust_stored_objects()
    left = run_server(ip, port, os.path.abspath(root), authorized_keys, host_key_path=host_key,
                      handler_factory=RepositoryService, shutdown_timeout=shutdown_timeout,
                      access_path=access, log_path=log_path)
    if left:  # threads still inside the store: do not tear the interpreter down under them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


COMMANDS = [serve_command, server_command]
