"""The README's code runs as written: each Python block that is a whole program (it starts with an
import) runs in a new interpreter in an empty directory, with no warning but the one its comments
announce (MissingDataWarning, "warns: remote references"); the fragments at least compile."""
from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from tests import subprocesses

README = Path(subprocesses.SRC_ROOT) / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), flags=re.S | re.M)
PROGRAMS = [b for b in BLOCKS if b.startswith(("import ", "from "))]

RUNNER = textwrap.dedent("""
    import sys, warnings
    code = open(sys.argv[1]).read()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    for w in caught:
        print(f"WARNING {w.category.__name__}: {w.message}", file=sys.stderr)
""")


def test_the_readme_has_a_runnable_quick_start() -> None:
    assert PROGRAMS and "Repository(" in PROGRAMS[0]


@pytest.mark.parametrize("index", range(len(PROGRAMS)))
def test_each_readme_program_runs_as_written(tmp_path: Path, index: int) -> None:
    script = tmp_path / "block.py"
    script.write_text(PROGRAMS[index])
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    work = tmp_path / "work"
    work.mkdir()
    import subprocess
    done = subprocess.run([sys.executable, str(runner), str(script)], cwd=work, env=subprocesses.python_env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    warned = [line for line in done.stderr.splitlines() if line.startswith("WARNING ")]
    announced = PROGRAMS[index].count("# warns:")
    assert len(warned) == announced and all("MissingDataWarning" in w for w in warned), done.stderr[-3000:]


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_readme_python_block_compiles(index: int) -> None:
    compile(BLOCKS[index], f"README.md block {index}", "exec")
