"""The sshd_server fixture gives a real, reachable OpenSSH server."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import paramiko
import pytest

from tests.sshd import SSHServer


def run_ssh(server: SSHServer, *remote: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(server.ssh_command(*remote), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)


def paramiko_client(server: SSHServer) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts_path))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def paramiko_exec(server: SSHServer, command: str) -> tuple[int, str]:
    client = paramiko_client(server)
    try:
        client.connect(server.host, port=server.port, username=server.user,
                       pkey=paramiko.PKey.from_path(server.client_key_path),
                       allow_agent=False, look_for_keys=False, timeout=10)
        _stdin, stdout, _stderr = client.exec_command(command, timeout=10)
        out = stdout.read().decode()
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def test_openssh_client_runs_a_command(sshd_server: SSHServer) -> None:
    done = run_ssh(sshd_server, "echo", "hello")
    assert (done.returncode, done.stdout) == (0, "hello\n"), done.stderr + sshd_server.log()


def test_paramiko_runs_a_command(sshd_server: SSHServer) -> None:
    assert paramiko_exec(sshd_server, "echo hello") == (0, "hello\n")


def test_paramiko_rejects_an_unknown_host_key(sshd_server: SSHServer) -> None:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        with pytest.raises(paramiko.SSHException, match="not found in known_hosts"):
            client.connect(sshd_server.host, port=sshd_server.port, username=sshd_server.user,
                           key_filename=str(sshd_server.client_key_path),
                           allow_agent=False, look_for_keys=False, timeout=10)
    finally:
        client.close()


def test_remote_commands_see_the_test_interpreter_and_isolated_home(
        sshd_server: SSHServer) -> None:
    done = run_ssh(sshd_server, 'echo "$PATH"; echo "$HOME"; echo "$GIT_CONFIG_GLOBAL"')
    assert done.returncode == 0, done.stderr
    path, home, gitconfig = done.stdout.splitlines()
    assert path.split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert home == os.environ["HOME"]
    assert gitconfig == os.environ["GIT_CONFIG_GLOBAL"]


def test_client_files_are_in_the_isolated_home(sshd_server: SSHServer) -> None:
    ssh_dir = Path(os.environ["HOME"]) / ".ssh"
    assert sshd_server.ssh_config_path == ssh_dir / "config"
    assert sshd_server.client_key_path == ssh_dir / "id_ed25519"
    host_key = sshd_server.host_key_pub.read_text().split()[1]
    assert f"[127.0.0.1]:{sshd_server.port} ssh-ed25519 {host_key}" in (
        sshd_server.known_hosts_path.read_text())
    config = paramiko.SSHConfig.from_path(os.path.expanduser("~/.ssh/config"))
    assert config.lookup("127.0.0.1")["port"] == str(sshd_server.port)


def test_address_is_an_ssh_url(sshd_server: SSHServer, tmp_path: Path) -> None:
    assert sshd_server.address(tmp_path / "repo") == (
        f"ssh://{sshd_server.user}@127.0.0.1:{sshd_server.port}{tmp_path}/repo")
