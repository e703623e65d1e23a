"""`git hangar --help` shows the git-hangar(1) page the package installs, and the bash/zsh
completion scripts are generated from the commands (issue 11)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hangar_git.cli.manpage import PAGE, render, shipped

from .conftest import SRC_ROOT, Hangar, subprocess_env


def test_shipped_files_match_the_commands() -> None:
    """The page and scripts setup.cfg installs are what the commands say now (regenerate with
    `python -m hangar_git.cli.manpage`)."""
    for relative, text in shipped().items():
        assert (SRC_ROOT / relative).read_text(encoding="utf-8") == text, f"{relative} is stale"
    setup = (SRC_ROOT / "setup.cfg").read_text()
    for relative in shipped():
        if relative.startswith("share"):
            assert relative.replace(os.sep, "/") in setup


def test_the_page_covers_every_command_and_renders() -> None:
    from hangar_git.cli.main import COMMANDS
    page = render()
    for name in COMMANDS:
        assert f'.SS "git hangar {name}"' in page
    assert '.SS "git hangar metadata set"' in page and '.SS "git hangar remote add"' in page
    done = subprocess.run(["man", "-l", str(SRC_ROOT / PAGE)], env={**os.environ, "MANPAGER": "cat",
                          "PAGER": "cat", "MANWIDTH": "100"}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "git-hangar - version control for tensor data" in done.stdout
    assert "--strategy [ours|theirs]" in done.stdout


def install_prefix(prefix: Path) -> None:
    """The layout pip gives: bin/git-hangar next to share/man/man1/git-hangar.1."""
    (prefix / "bin").mkdir(parents=True)
    script = shutil.which("git-hangar", path=subprocess_env()["PATH"])
    assert script is not None
    (prefix / "bin" / "git-hangar").symlink_to(script)
    (prefix / "share" / "man" / "man1").mkdir(parents=True)
    shutil.copy(SRC_ROOT / PAGE, prefix / "share" / "man" / "man1")


def git_help(prefix: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**subprocess_env(), "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"}
    env.pop("MANPATH", None)
    env["PATH"] = os.pathsep.join([str(prefix / "bin"), "/usr/bin", "/bin"])
    return subprocess.run(["git", "hangar", "--help"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_git_hangar_help_finds_the_page_next_to_the_script(tmp_path: Path) -> None:
    """Regression: `git hangar --help` printed "No manual entry for git-hangar"."""
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    install_prefix(tmp_path / "prefix")
    done = git_help(tmp_path / "prefix", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "GIT-HANGAR(1)" in done.stdout and "git hangar pull" in done.stdout


@pytest.mark.slow
def test_git_hangar_help_after_pip_install_in_a_fresh_venv(tmp_path: Path) -> None:
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    source = tmp_path / "src"
    shutil.copytree(SRC_ROOT, source, ignore=shutil.ignore_patterns(".venv", ".git", "*.egg-info", "build",
                                                                    "__pycache__", ".pytest_cache", "bench"))
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(source)], check=True,
                   timeout=600)
    assert (venv / "share" / "man" / "man1" / "git-hangar.1").is_file()
    assert (venv / "share" / "bash-completion" / "completions" / "git-hangar").is_file()
    done = git_help(venv, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "GIT-HANGAR(1)" in done.stdout


# -- completion ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shell, marker", [("bash", "_git_hangar()"), ("zsh", "#compdef git-hangar")])
def test_completion_scripts_are_generated(tmp_path: Path, shell: str, marker: str) -> None:
    out = Hangar(tmp_path).ok("completion", shell).stdout
    assert marker in out and "_GIT_HANGAR_COMPLETE" in out


def bash_complete(script: Path, words: str, cwd: Path) -> list[str]:
    code = (f'source {script}; words=({words}); cword=$(( ${{#words[@]}} - 1 )); _git_hangar; '
            'printf "%s\\n" "${COMPREPLY[@]}"')
    done = subprocess.run(["bash", "-c", code], cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completion_completes_commands_and_options(repo_dir: Path, tmp_path: Path) -> None:
    script = tmp_path / "git-hangar.bash"
    script.write_text(Hangar(tmp_path).ok("completion", "bash").stdout)
    assert {"status", "show"} <= set(bash_complete(script, "git hangar s", repo_dir))
    assert "--strategy" in bash_complete(script, "git hangar merge --st", repo_dir)
    assert set(bash_complete(script, "git hangar merge --strategy ''", repo_dir)) == {"ours", "theirs"}


def test_the_venv_running_the_tests_has_the_page_git_looks_for() -> None:
    """Regression: after the README's `make demo` (an editable install, which skips
    data_files) `git hangar --help` said "No manual entry for git-hangar"."""
    installed = Path(sys.prefix) / PAGE
    assert installed.is_file(), f"{installed} is missing: `make venv` copies share/ into the venv"
    assert installed.read_text(encoding="utf-8") == (SRC_ROOT / PAGE).read_text(encoding="utf-8")
    env = {**subprocess_env(), "MANPAGER": "cat", "PAGER": "cat", "MANWIDTH": "100"}
    env.pop("MANPATH", None)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"])
    done = subprocess.run(["git", "hangar", "--help"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "git-hangar - version control" in done.stdout, done.stderr
