"""Ctrl-C during a long `git hangar add` stops it promptly (0.13-0.24 s on a quiet machine; it
used to take 3-6 s flushing what it had read), with one line, exit status 130, and nothing
half-staged."""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from tests import subprocesses

STOP_WITHIN = 1.5
"""Seconds: well under the old 3 s, with room for a machine under load (0.7 s seen at load 8)."""


@pytest.mark.parametrize("how", [["--rows"], ["--rows", "--key-from", "name"]], ids=["bulk-rows", "row-by-row"])
def test_ctrl_c_during_add_stops_promptly_and_stages_nothing(tmp_path: Path, how: list[str]) -> None:
    """(Row by row, 400,000 rows once finished staging within the second the test waits, so its
    Ctrl-C landed as the process ended; 1,200,000 keep it staging.)"""
    repo = Repository(str(tmp_path / "r"), exists=False)
    repo.init("t", "t@x")
    rows = tmp_path / "rows.npy"
    np.save(rows, np.random.default_rng(0).random((1_500_000 if how == ["--rows"] else 1_200_000, 16),
                                                    dtype=np.float32))
    env = subprocesses.python_env()
    proc = subprocess.Popen([sys.executable, "-m", "hangar_git", "-C", str(tmp_path / "r"), "add", *how, "x",
                             str(rows)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = Path(repo.ctx.writer_lock().path)
    deadline = time.monotonic() + 60
    while not lock.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the add holds the writer lock, i.e. is staging
    time.sleep(1.0)
    assert proc.poll() is None, "the add finished before it could be interrupted: give it more rows"
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # reaped here: a live child would fail the next test on this worker
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"still running 60 s after Ctrl-C; stdout {out!r}, stderr {err!r}")
    took = time.monotonic() - sent
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines() == [
        "Error: interrupted; nothing half-done was kept, run the command again to finish"], err
    assert took < STOP_WITHIN, f"stopped {took:.3f} s after Ctrl-C"
    after = Repository(str(tmp_path / "r"))
    assert not after.writer_lock_held
    assert "x" not in str(after.status())  # nothing half-staged
    with after.checkout(write=True) as co:
        assert not co.has_changes and "x" not in co.columns


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=subprocesses.python_env(),
                          capture_output=True, text=True, timeout=60)


def test_ctrl_c_outside_the_command_prints_the_same_line_and_status(tmp_path: Path) -> None:
    """Regression: a Ctrl-C while click read the line or closed the command's context (outside
    the command itself) printed click's "Aborted!" with status 1."""
    Repository(str(tmp_path), exists=False).init("t", "t@x")
    done = _run_python(
        "import os\n"
        "from hangar_git.cli import main\n"
        "def interrupted(path):\n"  # the root context's close callback restores the cwd
        "    raise KeyboardInterrupt\n"
        "os.chdir = interrupted\n"
        "main(['status'])\n", tmp_path)
    assert done.returncode == 130, done
    assert done.stderr.strip().splitlines() == [
        "Error: interrupted; nothing half-done was kept, run the command again to finish"], done.stderr


@pytest.mark.parametrize("argv", [None, ["status"]], ids=["own-command-line", "caller's-arguments"])
def test_a_ctrl_c_after_the_command_ends_the_process_quietly(tmp_path: Path, argv: list[str] | None) -> None:
    """Regression: a Ctrl-C as the process shut down raised KeyboardInterrupt inside interpreter
    clean-up ("Exception ignored" lines; once a hang on a module lock). Once a command run
    from the process's own command line is over, SIGINT has its default action; a caller's
    call of ``main(argv)`` leaves the caller's handler alone."""
    Repository(str(tmp_path), exists=False).init("t", "t@x")
    done = _run_python(
        "import signal, sys\n"
        "sys.argv = ['git-hangar', 'status']\n"
        "from hangar_git.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        "print(signal.getsignal(signal.SIGINT) is signal.SIG_DFL)\n", tmp_path)
    assert done.returncode == 0, done
    assert done.stdout.strip().splitlines()[-1] == str(argv is None)


INSTALLED = Path(sys.executable).parent / "git-hangar"
SOURCE_LAUNCHER = Path(__file__).resolve().parents[2] / "git-hangar"


def test_the_installed_command_is_our_launcher() -> None:
    """The venv's ``git-hangar`` is the checkout's launcher (pip rewrites only its first line),
    not a console-script wrapper, which imports ``re`` before our code runs."""
    installed = INSTALLED.read_text().splitlines()
    assert installed[0].startswith("#!") and installed[1:] == SOURCE_LAUNCHER.read_text().splitlines()[1:]


@pytest.mark.parametrize("where", ["package", "command"])
def test_a_ctrl_c_while_the_command_loads_ends_it_quietly(tmp_path: Path, where: str) -> None:
    """Regression: a Ctrl-C during start-up (the wrapper's imports, ours) printed a traceback.
    The launcher runs beside a stand-in package that receives SIGINT while it is imported
    (``package``) or as the command begins (``command``)."""
    (tmp_path / "git-hangar").write_text(INSTALLED.read_text())
    package = tmp_path / "hangar_git"
    (package / "cli").mkdir(parents=True)
    interrupt = "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(5)\n"
    (package / "__init__.py").write_text(interrupt if where == "package" else "")
    (package / "cli" / "__init__.py").write_text(
        "def main():\n" + "".join("    " + line + "\n" for line in interrupt.splitlines()) if where == "command"
        else "def main():\n    return 0\n")
    done = subprocess.run([sys.executable, str(tmp_path / "git-hangar")], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (130, ""), done
