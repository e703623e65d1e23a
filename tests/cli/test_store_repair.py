"""A damaged store heals: fsck names every damage truthfully, fetch-data replaces damaged
copies with good ones for good, a corrupt pack index is rebuilt, and a deleted store is
re-created without losing a branch."""
from __future__ import annotations

import re
import traceback
import shutil
from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository
from hangar_git.errors import DamagedDataWarning, IntegrityError, MissingDataError

from .conftest import Hangar, clone, one_line_error, subprocess_env


def _flip(path: Path, at: int = -1) -> None:
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2 if at < 0 else at] ^= 0x20
    path.write_bytes(bytes(raw))


def _store(repo: Path) -> Path:
    return repo / ".git/hangar/store"


@pytest.fixture(autouse=True)
def _servers_run_this_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local remote is served by a `git-hangar serve` subprocess: it runs this checkout's code."""
    for name in ("PATH", "PYTHONPATH"):
        monkeypatch.setenv(name, subprocess_env()[name])


SAMPLES = {f"s{i}": np.random.default_rng(i).standard_normal((8, 8)).astype(np.float32) for i in range(200)}


@pytest.fixture
def fetched(repo_dir: Path, hangar: Hangar, server: Path, tmp_path: Path) -> Hangar:
    """A clone of a server with 200 incompressible small samples, its data fetched."""
    with Repository(repo_dir).checkout(write=True) as co:
        col = co.add_ndarray_column("img", prototype=SAMPLES["s0"])
        with col:
            col.update(SAMPLES)
        co.commit("samples")
    hangar.ok("remote", "add", "origin", server)
    hangar.ok("push", "origin", "master")
    c = clone(tmp_path, server, "c")
    c.ok("fetch-data", "origin", "master")
    return c


def _exported(c: Hangar, out: Path) -> None:
    result = c("export", "img", out)
    assert result.exit_code == 0 and "remote reference" not in result.output, result.output
    got = {p.stem: np.load(p) for p in out.rglob("*.npy")}
    assert {k: v.tobytes() for k, v in got.items()} == {k: v.tobytes() for k, v in SAMPLES.items()}


@pytest.mark.parametrize("gc_first", [False, True], ids=["fetch-then-gc", "gc-then-fetch"])
def test_a_damaged_small_object_is_a_problem_until_fetch_data_replaces_it_for_good(
        fetched: Hangar, tmp_path: Path, gc_first: bool) -> None:
    c = fetched
    (pack,) = (_store(c.path) / "data").glob("*.pack")
    _flip(pack)
    assert c("fsck").exit_code == 1
    if gc_first:  # gc neither removes it nor hides the damage
        c.ok("gc")
        result = c("fsck")
        assert result.exit_code == 1 and "is damaged here" in result.output, result.output
        assert "run `git hangar fetch-data origin master`" in result.output, result.output
    c.ok("fetch-data", "origin", "master")
    assert c.ok("fsck").output.endswith("0 remote reference(s)\nok\n")
    _exported(c, tmp_path / "out")
    c.ok("gc")
    assert c.ok("fsck").output.endswith("0 remote reference(s)\nok\n")
    _exported(c, tmp_path / "out2")


def test_an_index_corrupt_beyond_reading_is_kept_with_its_pack_until_fetch_data_restores(
        fetched: Hangar, tmp_path: Path) -> None:
    """Regression (data loss): an index whose header no longer decoded was removed by fsck, its
    pack's objects unreadable for good (and its pack left for gc to delete). Now both stay;
    fsck says what cannot be read and what brings it back."""
    c = fetched
    (index,) = (_store(c.path) / "index").glob("*.idx")
    (pack,) = (_store(c.path) / "data").glob("*.pack")
    _flip(index, at=60)  # in its header: nothing of it decodes
    for _ in range(2):
        result = c("fsck")
        assert result.exit_code == 1 and "beyond reading" in result.output, result.output
        assert "fetch-data" in result.output, result.output
        assert index.exists() and pack.exists()  # nothing deleted
    one_line_error(c("gc"), f"pack index {index.stem}", "corrupt")
    c.ok("fetch-data", "origin", "master")
    _exported(c, tmp_path / "out")


def test_a_corrupt_pack_index_is_damage_that_fsck_rebuilds(fetched: Hangar, tmp_path: Path) -> None:
    c = fetched
    (index,) = (_store(c.path) / "index").glob("*.idx")
    _flip(index)
    assert "s1" in c.ok("ls", "master", "img").output
    one_line_error(c("show", "master", "img", "s1"), f"pack index {index.stem}", "corrupt", "`git hangar fsck`")
    one_line_error(c("gc"), f"pack index {index.stem}", "corrupt", "`git hangar fsck`")
    result = c("fsck")
    assert result.exit_code == 1 and f"pack index {index.stem} was corrupt" in result.output, result.output
    assert "rebuilt from its pack" in result.output, result.output
    result = c("fsck")                         # what the rebuild lost (the flip may hit a digest) is damage
    if result.exit_code:
        assert "is damaged here" in result.output and "fetch-data origin master" in result.output, result.output
        c.ok("fetch-data", "origin", "master")
    assert c.ok("fsck").output.endswith("0 remote reference(s)\nok\n")
    _exported(c, tmp_path / "out")
    c.ok("gc")
    _exported(c, tmp_path / "out2")


def _advice(text: str) -> list[str]:
    """The `git hangar ...` commands a message tells the user to run, as argument lists."""
    return [cmd.split() for cmd in re.findall(r"`git hangar ([^`]+)`", text)]


def test_a_deleted_store_comes_back_by_following_the_advice_literally(fetched: Hangar, tmp_path: Path) -> None:
    c = fetched
    shutil.rmtree(_store(c.path))
    line = one_line_error(c("fsck"), "no hangar data store", "`git hangar init`")
    assert ["init"] in _advice(line), line
    said = c.ok("init").output                 # re-creates an empty store; nothing else changes
    assert "branches" in said and "kept" in said, said
    assert ["fetch-data", "origin", "master"] in _advice(said), said
    assert "s1" in c.ok("ls", "master", "img").output
    c.ok("fetch-data", "origin", "master")
    assert c.ok("fsck").output.endswith("0 remote reference(s)\nok\n")
    _exported(c, tmp_path / "out")
    one_line_error(c("init"), "already a hangar repository")  # with its store there, init refuses as before


def test_init_recreating_a_store_without_remotes_says_the_data_is_gone(repo_dir: Path, hangar: Hangar) -> None:
    shutil.rmtree(_store(repo_dir))
    said = hangar.ok("init").output
    assert "no remote" in said and "REMOTE" not in said, said


def _damage_server(server: Path) -> None:
    """Flip a byte of the server's pack and let its fsck find (and mark) the damage."""
    (pack,) = (server / "hangar/store/data").glob("*.pack")
    _flip(pack)
    assert not Repository(server).fsck().ok


def test_data_damaged_on_the_remote_is_an_integrity_error_not_missing_data(
        fetched: Hangar, server: Path, tmp_path: Path) -> None:
    _damage_server(server)
    c = clone(tmp_path, server, "c2")
    line = one_line_error(c("fetch-data", "origin", "master"), "remote 'origin' holds", "damaged", "`git hangar fsck`")
    assert "does not hold" not in line and "another remote" not in line, line
    with Repository(c.path).checkout(stream_from="origin") as co:
        with pytest.raises(IntegrityError, match="'origin'.*damaged") as err:
            [co["img", k] for k in SAMPLES]
        assert not isinstance(err.value, MissingDataError)


def test_local_damage_is_not_reported_as_data_elsewhere(fetched: Hangar, tmp_path: Path) -> None:
    c = fetched
    (pack,) = (_store(c.path) / "data").glob("*.pack")
    _flip(pack)
    assert c("fsck").exit_code == 1             # marks the damaged object
    with pytest.warns(DamagedDataWarning, match="damaged.*`git hangar fetch-data origin master`"):
        co = Repository(c.path).checkout()
    for read in (lambda: dict(co["img"].items()), lambda: co["img"].get_many(list(SAMPLES)),
                 lambda: [co["img", k] for k in SAMPLES]):
        with pytest.raises(IntegrityError, match="damaged") as err:
            read()
        assert not isinstance(err.value, MissingDataError), err.value
        assert "fetch-data origin master" in str(err.value), "".join(traceback.format_exception(err.value))
    co.close()
    result = c("export", "img", tmp_path / "out")
    assert "remote reference" not in result.output and "damaged" in result.output, result.output
