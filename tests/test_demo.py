"""The main demo (examples/tutorial.py, what `make demo` runs) works end to end."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TUTORIAL = Path(__file__).resolve().parents[1] / "examples" / "tutorial.py"


def test_tutorial_runs_end_to_end(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONWARNINGS="error")
    proc = subprocess.run([sys.executable, str(TUTORIAL)], capture_output=True, text=True,
                          env=env, timeout=120)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    # the partial clone: repr, warning, error
    assert "- test / True" in out and "- test / False" in out and "- train / True" in out
    assert "MissingDataWarning: column(s) 'test' and 'test_labels' contain remote references" in out
    assert re.search(r"MissingDataError: data of sample \d+ in column 'test' is not on this machine", out)
    assert "MissingDataError: data of sample 0 in column 'train'" in out
    # the merges, and both repositories ending on the merge commit
    assert "Selected 3-Way Merge Strategy" in out and "Selected Fast-Forward Merge Strategy" in out
    assert "Summary of Contents Contained in Data Repository" in out
    assert re.search(r"master is [0-9a-f]{40} in both repositories", out)
    assert "server stopped" in out
    # the workspace (keys, repositories, server root) is gone
    workspace = re.search(r"workspace: (\S+)", out)
    assert workspace and workspace.group(1).startswith(str(tmp_path))
    assert not os.path.exists(workspace.group(1))
