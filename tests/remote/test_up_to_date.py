"""Push and fetch with nothing to send cost the same however long the history: they walk nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo

from .conftest import ServerRepo, add_rows, dota_rows

ROWS = dota_rows(200, np.uint8, seed=5)


@pytest.mark.parametrize("server", ["path"], indirect=True)
@pytest.mark.parametrize("commits", [2, 12])
def test_up_to_date_push_and_fetch_touch_no_history(server: ServerRepo, tmp_path: Path, commits: int,
                                                      make_repo: Callable[[str], Repository],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo("client")
    for i in range(commits):
        add_rows(repo, "master", "dota", ROWS[i * 10:(i + 1) * 10], f"games {i}", start=i * 10)
    repo.remote.add("origin", server.address)
    repo.remote.push("origin", "master")
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", server.address)
    clone.remote.quiet = True

    lookups = []
    real = GitRepo.has_object
    monkeypatch.setattr(GitRepo, "has_object", lambda self, oid: lookups.append(oid) or real(self, oid))
    with pytest.warns(UserWarning, match="nothing to fetch"):
        clone.remote.fetch("origin", "master")
    with pytest.warns(UserWarning, match="nothing to push"):
        repo.remote.push("origin", "master")
    assert len(lookups) <= 4, f"{len(lookups)} object lookups for {commits} commits"

    # a new commit upstream is fetched, and only it is checked
    add_rows(repo, "master", "dota", ROWS[150:160], "one more", start=150)
    repo.remote.push("origin", "master")
    lookups.clear()
    clone.remote.fetch("origin", "master")
    with pytest.warns(UserWarning, match="not on this machine"):  # records only: no data was fetched
        co = clone.checkout(branch="origin/master")
    with co:
        assert len(co["dota"]) == commits * 10 + 10
    assert len(lookups) < 200, f"{len(lookups)} object lookups to fetch one commit"
