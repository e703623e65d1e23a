"""fsck, gc and drop on real repositories, stores and a local-path remote."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
from click.testing import CliRunner

from hangar_git import DamagedDataWarning, HangarError, IntegrityError, MissingDataError, Repository
from hangar_git.cli.main import cli

from ..repos import add_bare_origin


def _repo(path) -> Repository:
    repo = Repository(str(path), exists=False)
    repo.init("tester", "t@x")
    return repo


def _commit_rows(repo: Repository, rows: np.ndarray, name: str = "x", message: str = "rows") -> str:
    with repo.checkout(write=True) as co:
        col = co.columns[name] if name in co.columns else co.add_ndarray_column(name, prototype=rows[0])
        for i, row in enumerate(rows):
            col[i] = row
        return co.commit(message)


@pytest.fixture
def rows() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, size=(300, 17), dtype=np.uint8)


def _flip_pack_data(repo: Repository) -> None:
    files = [f for f in glob.glob(os.path.join(repo.ctx.store_uri, "data", "*.pack"))
             if os.path.getsize(f) > 1000]
    assert files, "no pack data file found"
    with open(files[0], "r+b") as fh:
        fh.seek(os.path.getsize(files[0]) // 2)
        chunk = fh.read(16)
        fh.seek(os.path.getsize(files[0]) // 2)
        fh.write(bytes(b ^ 0xFF for b in chunk))


def test_fsck_clean_repository(tmp_path, rows):
    repo = _repo(tmp_path / "r")
    _commit_rows(repo, rows)
    report = repo.fsck()
    assert report.ok, report.problems
    assert report.samples == len(rows) and report.commits == 1
    result = CliRunner().invoke(cli, ["-C", str(tmp_path / "r"), "fsck"])
    assert result.exit_code == 0 and "ok" in result.output


@pytest.mark.parametrize("quick", [False, True], ids=["rehash", "quick"])
def test_fsck_finds_corrupt_store_and_reads_refuse(tmp_path, rows, quick):
    repo = _repo(tmp_path / "r")
    _commit_rows(repo, rows)
    _flip_pack_data(repo)
    fresh = Repository(str(tmp_path / "r"))
    report = fresh.fsck(quick=quick)
    assert not report.ok and any("corrupt" in p for p in report.problems)
    # fsck forgot that the column was complete: the checkout says data is damaged, as it is
    with pytest.warns(DamagedDataWarning, match="damaged.*no remote to fetch them from"), fresh.checkout() as co:
        with pytest.raises(IntegrityError, match="corrupt|damaged"):
            list(co["x"].values())
    result = CliRunner().invoke(cli, ["-C", str(tmp_path / "r"), "fsck"])
    assert result.exit_code == 1 and "problem" in result.output


def test_a_truncated_data_file_is_an_fsck_problem_and_a_one_line_error(tmp_path, rows):
    """Regression: a store pack cut short made `fsck` and `show` print a traceback (OSError
    "short read") and `export` call it a failure to write its output."""
    repo = _repo(tmp_path / "r")
    _commit_rows(repo, rows[:50])
    for path in glob.glob(os.path.join(repo.ctx.store_uri, "data", "*.pack")):
        os.truncate(path, 10)
    where = ["-C", str(tmp_path / "r")]
    result = CliRunner().invoke(cli, [*where, "fsck"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    problems = [line for line in result.output.splitlines() if line.startswith("problem:")]
    assert len(problems) == 50 and all("truncated" in p and "column 'x' key" in p for p in problems), result.output
    for args in (["show", "master", "x", "3"], ["export", "x", str(tmp_path / "out")]):
        result = CliRunner().invoke(cli, [*where, *args])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.exception)
        lines = [line for line in result.output.strip().splitlines() if not line.startswith("Warning: ")]
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "cannot write" not in lines[0], lines
        assert "shorter than its index says" in lines[0] or "damaged" in lines[0], lines  # (fsck marked it)


def test_fsck_reports_lost_data_but_not_remote_references(tmp_path, rows):
    origin = _repo(tmp_path / "a")
    _commit_rows(origin, rows)
    add_bare_origin(origin, tmp_path / "srv")
    origin.remote.push("origin", "master")
    clone = Repository(str(tmp_path / "b"), exists=False)
    clone.clone("c", "c@x", str(tmp_path / "srv"))
    report = clone.fsck()
    assert report.ok, report.problems
    assert report.remote_references == len(rows)
    # a local-only commit whose data vanished is a real problem
    lone = _repo(tmp_path / "lone")
    _commit_rows(lone, rows[:5])
    lone.ctx.store.rewrite(lambda d: False)
    report = Repository(str(tmp_path / "lone")).fsck()
    assert not report.ok and any("neither here nor" in p for p in report.problems)


def test_gc_frees_unreferenced_data_and_keeps_history(tmp_path, rows):
    repo = _repo(tmp_path / "r")
    _commit_rows(repo, rows[:100])
    with repo.checkout(write=True) as co:
        for i in range(100, 300):
            co["x"][i] = rows[i]
        co.flush()
        co.reset_staging_area()
    assert sum(1 for _ in repo.ctx.store.iter_objects()) == 300
    kept = repo.gc(grace_seconds=3600)
    assert kept.removed == 0, "young objects survive the grace period"
    result = repo.gc(grace_seconds=0)
    assert (result.removed, result.kept) == (200, 100)
    fresh = Repository(str(tmp_path / "r"))
    with fresh.checkout() as co:
        assert all((co["x", i] == rows[i]).all() for i in range(100))
    assert fresh.fsck().ok


def test_gc_keeps_what_the_staging_area_holds(tmp_path, rows):
    repo = _repo(tmp_path / "r")
    _commit_rows(repo, rows[:10])
    co = repo.checkout(write=True)
    co["x"][999] = rows[200]
    co.flush()
    co.close()
    repo.gc(grace_seconds=0)
    with repo.checkout(write=True) as co:
        assert (co["x"][999] == rows[200]).all()


def test_drop_needs_a_remote_copy_then_fetch_data_restores(tmp_path, rows):
    repo = _repo(tmp_path / "a")
    _commit_rows(repo, rows)
    add_bare_origin(repo, tmp_path / "srv")
    with pytest.raises(HangarError, match="push it first"):
        repo.drop("origin", "master")
    repo.remote.push("origin", "master")
    result = repo.drop("origin", "master")
    assert result.removed == len(rows)
    fresh = Repository(str(tmp_path / "a"))
    with pytest.warns(UserWarning, match="not on this machine"):
        co = fresh.checkout()
    with pytest.raises(MissingDataError):
        co["x", 0]
    co.close()
    fresh.remote.fetch_data("origin", branch="master")
    with fresh.checkout() as co:
        assert all((co["x", i] == rows[i]).all() for i in range(len(rows)))
    where = ["-C", str(tmp_path / "a")]
    assert CliRunner().invoke(cli, [*where, "drop", "origin", "master"]).output.startswith("dropped 300 object(s)")
    again = CliRunner().invoke(cli, [*where, "drop", "origin", "master"])  # regression: "dropped 0 object(s)"
    assert again.exit_code == 0 and again.output.startswith("nothing to drop"), again.output


def _store_files(repo: Repository, sub: str) -> list[str]:
    return sorted(os.listdir(os.path.join(repo.ctx.store_uri, sub)))


def test_pack_indexes_are_merged_when_they_pile_up(tmp_path, rows, monkeypatch):
    from hangar_git.storage import maintenance
    monkeypatch.setattr(maintenance, "MERGE_AT", 4)
    repo = _repo(tmp_path / "r")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=rows[0])
        for i in range(12):
            col[i] = rows[i]
            co.flush()
        co.commit("many flushes")
    assert len(_store_files(repo, "index")) <= 5
    with Repository(str(tmp_path / "r")).checkout() as co:
        assert all((co["x", i] == rows[i]).all() for i in range(12))


def test_gc_says_when_merged_packs_wait_for_the_grace_period(tmp_path, rows):
    repo = _repo(tmp_path / "r")
    for n in (50, 100):
        _commit_rows(repo, rows[:n], message=f"{n}")
    out = CliRunner().invoke(cli, ["-C", str(tmp_path / "r"), "gc"])
    assert out.exit_code == 0, out.output
    assert "packed the kept objects of 2 pack files into one" in out.output, out.output
    assert "replaced pack files stay for the grace period" in out.output and "--grace 0" in out.output


def test_gc_compacts_into_one_pack(tmp_path, rows):
    repo = _repo(tmp_path / "r")
    for n in (50, 100, 150):
        _commit_rows(repo, rows[:n], message=f"{n}")
    assert len(_store_files(repo, "data")) == 3
    repo.gc(grace_seconds=0)
    assert len(_store_files(repo, "data")) == 1 and len(_store_files(repo, "index")) == 1
    assert Repository(str(tmp_path / "r")).fsck().ok
