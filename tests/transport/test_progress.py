"""Progress bars show only on a terminal and never when quiet."""
from __future__ import annotations

import io
import sys

import pytest

from hangar_git.transport.progress import progress, progress_enabled


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("tty, quiet, shown", [(True, False, True), (True, True, False),
                                               (False, False, False)],
                         ids=["terminal", "quiet", "not-a-terminal"])
def test_bar_visibility(monkeypatch: pytest.MonkeyPatch, tty: bool, quiet: bool, shown: bool) -> None:
    err = FakeTTY() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    assert progress_enabled(quiet) is shown
    with progress("Pushing data", total=2048, unit="B", quiet=quiet) as bar:
        bar.update(1024)
        bar.update(1024)
    assert ("Pushing data" in err.getvalue()) is shown
    if shown:
        assert "2.00k" in err.getvalue()


def test_closed_stderr_means_no_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    err.close()
    monkeypatch.setattr(sys, "stderr", err)
    assert not progress_enabled()
