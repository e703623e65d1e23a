"""Start-up: `git hangar -h` and `--version` load no heavy library, and the lazy command
table says exactly what the commands say."""
from __future__ import annotations

import importlib
import json
import subprocess

import pytest

from hangar_git.cli.main import COMMANDS, cli

from tests.subprocesses import python_env, run_python

HEAVY = ["numpy", "tiledb", "blosc2", "pygit2", "paramiko", "tqdm", "hangar_git.api", "hangar_git.storage"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_matches_each_command(name: str) -> None:
    module_name, short_help = COMMANDS[name]
    module = importlib.import_module(f"hangar_git.cli.{module_name}")
    command = next(c for c in module.COMMANDS if c.name == name)
    assert command.get_short_help_str(limit=10 ** 6) == short_help


def test_every_command_module_command_is_in_the_table() -> None:
    modules = {module for module, _ in COMMANDS.values()}
    for module_name in modules:
        module = importlib.import_module(f"hangar_git.cli.{module_name}")
        assert {c.name for c in module.COMMANDS} <= set(COMMANDS), module_name
    assert set(cli.list_commands(None)) == set(COMMANDS)  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [["-h"], ["--version"], ["--help"], ["nosuch"]])
def test_help_and_version_load_no_heavy_library(args: list[str]) -> None:
    """Regression: every command took 0.5-0.7 s to start, -h and --version included,
    because importing the CLI loaded blosc2, tiledb, numpy, pygit2 and paramiko."""
    code = f"""
    import json, sys
    from hangar_git.cli import main
    try:
        main({args!r})
    except SystemExit:
        pass
    print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)), file=sys.stderr)
    """
    proc = run_python(code, python_env())
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("args", [["-h"], ["--version"]])
def test_help_and_version_load_neither_typing_nor_the_errors(args: list[str]) -> None:
    """Regression: with python3 -c pass at 12 ms, `-h` took 1.9-2.0x it (target 2x): 8 ms of
    it importing typing (and re, enum, functools with it) and the exception modules,
    neither of which the root help or the version use."""
    code = f"""
    import sys
    from hangar_git.cli import main
    main({args!r})
    print(sorted(m for m in ("typing", "re", "hangar_git.errors") if m in sys.modules), file=sys.stderr)
    """
    proc = run_python(code, python_env())
    assert proc.stderr.strip().splitlines()[-1] == "[]"


def test_help_lists_every_command_through_the_real_script() -> None:
    out = subprocess.run(["git-hangar", "-h"], env=python_env(), capture_output=True, text=True,
                         timeout=60, check=True).stdout
    listed = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == sorted(COMMANDS)


def test_a_command_loads_only_when_it_runs() -> None:
    code = """
    import sys
    from hangar_git.cli import main
    try:
        main(["status", "-h"])
    except SystemExit:
        pass
    loaded = sorted(m.rsplit(".", 1)[1] for m in sys.modules if m.startswith("hangar_git.cli.") and
                    m.rsplit(".", 1)[1] not in ("main", "common"))
    print(",".join(loaded), file=sys.stderr)
    """
    proc = run_python(code, python_env())
    assert proc.stderr.strip().splitlines()[-1] == "history"


DATA_LIBRARIES = ["numpy", "tiledb", "blosc2", "blake3", "paramiko", "tqdm"]


@pytest.fixture(scope="module")
def history_repo(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Two commits on master, a branch, and changes staged on top: every history command
    has something to show."""
    import numpy as np
    from tests.repos import new_repo
    path = tmp_path_factory.mktemp("history")
    repo = new_repo(path)
    for message, values in (("one", np.arange(8.0)), ("two", np.arange(8.0) + 1)):
        with repo.checkout(write=True) as co:
            col = co.columns["x"] if "x" in co.columns else co.add_ndarray_column("x", prototype=values[:2])
            for i in range(4):
                col[i] = values[2 * i:2 * i + 2]
            co.metadata["m"] = message
            co.commit(message)
    repo.create_branch("dev")
    with repo.checkout(write=True) as co:
        co.columns["x"][9] = np.zeros(2)
    return str(path)


@pytest.mark.parametrize("args", [["status"], ["log"], ["log", "--all"], ["branch"], ["diff"],
                                  ["diff", "dev", "master"]])
def test_history_commands_load_no_data_library(history_repo: str, args: list[str]) -> None:
    """Regression: `status`, `log`, `branch` and `diff` took 0.5 s and more on any repository,
    because they loaded numpy, TileDB, blosc2 and paramiko, which read no records."""
    code = f"""
    import json, os, sys
    os.chdir({history_repo!r})
    from hangar_git.cli import main
    try:
        main({args!r})
    except SystemExit as exc:
        assert not exc.code, exc.code
    print(json.dumps(sorted(m for m in {DATA_LIBRARIES!r} if m in sys.modules)), file=sys.stderr)
    """
    proc = run_python(code, python_env())
    assert proc.stdout.strip()
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("args", [["-h"], ["--help"]])
def test_the_fast_root_help_is_what_click_prints(args: list[str]) -> None:
    """`-h` answers from the generated text (no click import); it must be click's own help."""
    from click.testing import CliRunner

    from hangar_git.cli.manpage import HELP_WIDTH
    fast = subprocess.run(["git-hangar", *args], env=python_env(), capture_output=True, text=True,
                          timeout=60, check=True).stdout
    slow = CliRunner().invoke(cli, args, prog_name="git hangar", terminal_width=HELP_WIDTH)
    assert slow.exit_code == 0 and fast == slow.output


def test_root_help_loads_no_click() -> None:
    code = """
    import sys
    from hangar_git.cli import main
    main(["-h"])
    print("click" in sys.modules, file=sys.stderr)
    """
    assert run_python(code, python_env()).stderr.strip().splitlines()[-1] == "False"
