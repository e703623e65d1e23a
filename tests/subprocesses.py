"""Running Python code in fresh interpreters from tests (shared by the suites' fixtures)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import Any, Callable, Mapping, Optional

import pytest

SRC_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_env(extra: Optional[Mapping[str, str]] = None, *, strict_warnings: bool = False) -> dict[str, str]:
    """This environment, with the source tree importable and this venv's ``bin`` first on PATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (SRC_ROOT, env.get("PYTHONPATH")) if p)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", os.defpath)])
    if strict_warnings:
        env["PYTHONWARNINGS"] = "error::UserWarning"
    env.update(extra or {})
    return env


def run_python(code: str, env: Mapping[str, str], check: bool = True,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run dedented ``code`` in a new interpreter; it must exit 0 unless ``check=False``."""
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=dict(env),
                          capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"subprocess failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def spawn_python(code: str, env: Mapping[str, str], stdin: int = subprocess.PIPE) -> subprocess.Popen:
    """Start an interpreter running dedented ``code`` with piped output."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=dict(env), stdin=stdin,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def reap(procs: list[subprocess.Popen]) -> None:
    """Kill what still runs, then collect every process and close its pipes."""
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Stop a server the polite way: SIGTERM, then SIGKILL if it has not exited within
    ``timeout`` seconds; waits for it either way."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def call_counter(calls: dict) -> Callable[[str, Callable], Callable]:
    """``count(name, real)``: ``real`` wrapped to add one to ``calls[name]`` per call (what a
    subprocess script patches in to count the reads it makes)."""
    def count(name: str, real: Callable) -> Callable:
        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)
        return counted
    return count
