"""What `git hangar gc` frees on disk, what it says it freed, and what it leaves for the grace
period (issue 11: a fresh-eyes run found `--grace 0` keeping the pack files an earlier gc
replaced, every later gc rewriting its one pack again, and removed objects freeing nothing)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hangar_git import Repository
from hangar_git.cli.main import cli
from hangar_git.storage import maintenance
from hangar_git.storage.packindex import new_name

from ..repos import new_repo, store_bytes
from ..subprocesses import python_env, reap, spawn_python

LIVE = np.random.default_rng(5).integers(0, 255, size=(3, 1500, 200), dtype=np.uint8)
"""Three commits of random (incompressible) rows: three packs."""
DEAD = np.random.default_rng(6).integers(0, 255, size=(1500, 200), dtype=np.uint8)
"""Rows flushed to the store, then discarded: no commit references them."""
DEFAULT_GRACE: list[str] = []
GRACE_0 = ["--grace", "0"]


def _repo(path: Path) -> Repository:
    repo = new_repo(path)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=LIVE[0][0])
        for n, rows in enumerate(LIVE):
            col.update({n * len(rows) + i: row for i, row in enumerate(rows)})
            co.commit(f"batch {n}")
    with repo.checkout(write=True) as co:
        co["x"].update({100_000 + i: row for i, row in enumerate(DEAD)})
        co.flush()
        co.reset_staging_area()
    assert len(_names(repo, "data")) == 4
    return repo


def _gc(repo: Repository, *args: str) -> str:
    result = CliRunner().invoke(cli, ["-C", repo.path, "gc", *args])
    assert result.exit_code == 0, result.output
    return result.output


def _names(repo: Repository, sub: str) -> list[str]:
    folder = os.path.join(repo.ctx.store_uri, sub)
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _freed(output: str) -> int:
    """The bytes gc said it freed (negative: what it said the store grew by)."""
    freed = re.search(r"freed ([\d,]+) bytes", output)
    grew = re.search(r"the store grew by ([\d,]+) bytes", output)
    assert bool(freed) != bool(grew), output
    return int(freed.group(1).replace(",", "")) if freed else -int(grew.group(1).replace(",", ""))  # type: ignore[union-attr]


def _snapshot(repo: Repository) -> dict[str, tuple[int, int]]:
    """Every file of the store: its size and modification time."""
    root = repo.ctx.store_uri
    return {os.path.relpath(os.path.join(d, f), root): (os.stat(os.path.join(d, f)).st_size,
                                                        os.stat(os.path.join(d, f)).st_mtime_ns)
            for d, _, files in os.walk(root) for f in files}


def _age_condemned(repo: Repository, seconds: float) -> None:
    """Make every condemned-files listing look ``seconds`` old (as if a gc had run then)."""
    folder = os.path.join(repo.ctx.store_uri, "condemned")
    for name in os.listdir(folder):
        os.rename(os.path.join(folder, name), os.path.join(folder, new_name(at=time.time() - seconds)))


def _reads_all(repo: Repository) -> None:
    with Repository(repo.path).checkout() as co:
        for n, rows in enumerate(LIVE):
            assert all((co["x", n * len(rows) + i] == rows[i]).all() for i in range(0, len(rows), 97))
    assert Repository(repo.path).fsck().ok


def test_gc_grace_0_removes_the_pack_files_an_earlier_gc_replaced(tmp_path: Path) -> None:
    """Regression: `gc` said "`git hangar gc --grace 0` removes them now", and the `--grace 0`
    run left every pack file the first gc had replaced on disk."""
    repo = _repo(tmp_path / "r")
    old = _names(repo, "data")
    first = _gc(repo)
    assert "`git hangar gc --grace 0` removes them now" in first, first
    assert set(old) < set(_names(repo, "data")), "within the grace period the replaced files stay"
    _gc(repo, *GRACE_0)
    assert not set(old) & set(_names(repo, "data"))
    assert len(_names(repo, "data")) == 1 and _names(repo, "condemned") == []
    _reads_all(repo)


@pytest.mark.parametrize("runs", [[DEFAULT_GRACE, GRACE_0], [GRACE_0]], ids=["default-grace-then-0", "grace-0"])
def test_gc_frees_what_it_says_it_freed(tmp_path: Path, runs: list[list[str]]) -> None:
    """Regression: `gc --grace 0` reported removed objects and `du -s` of the store did not
    change. Each gc reports exactly the bytes the store shrank (or grew) by; with the default
    grace period the young discarded rows and the replaced packs stay (and it says so), and a
    `--grace 0` gc leaves only the live rows' pack."""
    repo = _repo(tmp_path / "r")
    for args in runs:
        before = store_bytes(repo.ctx.store_uri)
        out = _gc(repo, *args)
        after = store_bytes(repo.ctx.store_uri)
        assert _freed(out) == before - after, out
        if args == DEFAULT_GRACE:
            assert after > before and "1500 unreferenced object(s) stay" in out, out
        else:  # one pack of the live rows (and their index), nothing else
            assert f"removed {len(DEAD)} object(s)" in out, out
            (data,) = _names(repo, "data")
            assert os.path.getsize(os.path.join(repo.ctx.store_uri, "data", data)) < LIVE.nbytes * 1.05
            assert len(_names(repo, "index")) == 1 and _names(repo, "condemned") == []
    _reads_all(repo)


@pytest.mark.parametrize("grace", [DEFAULT_GRACE, GRACE_0], ids=["default-grace", "grace-0"])
def test_a_gc_with_nothing_to_do_says_so_and_writes_nothing(tmp_path: Path, grace: list[str]) -> None:
    """Regression: every gc after the first said "rewrote 1 pack(s) into one" and wrote the one
    pack again under a new name."""
    repo = _repo(tmp_path / "r")
    _gc(repo, *GRACE_0)
    files = _snapshot(repo)
    for _ in range(2):
        out = _gc(repo, *grace)
        assert out.startswith("nothing to do") and "rewrote" not in out and "freed" not in out, out
        assert _snapshot(repo) == files
    _reads_all(repo)


READER = """
    import sys
    from hangar_git import Repository
    co = Repository({path!r}).checkout()
    first = co["x", 0]
    print("ready", flush=True)
    sys.stdin.readline()
    print(sum(int(co["x", k].sum()) for k in range({n})), flush=True)
"""


def test_replaced_packs_stay_for_the_whole_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process that loaded the indexes before a gc reads from the pack files the gc replaced:
    a gc within the grace period keeps them, even past the 10 minutes a condemned file waits
    at least (they went then, whatever the grace period) and when they are older than the age
    at which files no index names count as a killed writer's (they went then too); one after
    the grace period removes them."""
    repo = _repo(tmp_path / "r")
    old = set(_names(repo, "data"))
    reader = spawn_python(READER.format(path=repo.path, n=LIVE.shape[0] * LIVE.shape[1]), python_env())
    try:
        assert reader.stdout.readline().strip() == "ready", reader.stderr.read()  # type: ignore[union-attr]
        _gc(repo)
        _age_condemned(repo, maintenance.CONDEMNED_SECONDS + 60)
        monkeypatch.setattr(maintenance, "ORPHAN_SECONDS", 0.0)
        out = _gc(repo)
        assert old <= set(_names(repo, "data")), out
        got, err = reader.communicate("go\n", timeout=120)
        assert reader.returncode == 0, err
        assert int(got.split()[-1]) == int(LIVE.astype(np.int64).sum())
    finally:
        reap([reader])
    _age_condemned(repo, 3600 + 60)
    _gc(repo)
    assert not old & set(_names(repo, "data")) and _names(repo, "condemned") == []
    _reads_all(repo)
