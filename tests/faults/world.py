"""Shared by the fault-injection and concurrency suites: template repositories,
`git hangar` subprocesses (optionally with a kill point armed) and exact checks.

Templates are built once per test session (per xdist worker) with the API and
copied per test by :func:`place`, which repoints ``hangar.store`` (an absolute
URI) and ``origin`` at the copy.

The data: column ``small`` (16x16 uint8, 40 keys) and column ``big``
(512x640 float32, 1.3 MB each: the store's large-object tier, and enough of
them that a push or fetch-data needs two 8 MB data frames).

* ``c0`` holds 20 small and 2 big samples;
* ``c1`` adds 20 small and 7 big ones and overwrites ``s00``;
* ``c2`` (child of c1) adds column ``extra`` and overwrites ``s01``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

import hangar_git
from hangar_git import Repository
from hangar_git.bookkeeping.gitrepo import GitRepo
from hangar_git.errors import MissingDataError

SRC_ROOT = Path(hangar_git.__file__).resolve().parent.parent
State = dict[str, dict[str, np.ndarray]]


# -- data -----------------------------------------------------------------------------------
@dataclass
class Dataset:
    states: dict[str, State]             # "c0", "c1", "c2" -> column -> key -> array
    files: Path                          # c1's new samples as .npy files: small/, big/
    new_small: list[Path] = field(default_factory=list)
    new_big: list[Path] = field(default_factory=list)


def make_dataset(root: Path) -> Dataset:
    rng = np.random.default_rng(2024)
    small = {f"s{i:02d}": rng.integers(0, 256, (16, 16), dtype=np.uint8) for i in range(40)}
    big = {f"b{i}": rng.standard_normal((512, 640)).astype(np.float32) for i in range(9)}
    c0 = {"small": {k: small[k] for k in list(small)[:20]}, "big": {k: big[k] for k in list(big)[:2]}}
    c1_small = dict(small)
    c1_small["s00"] = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    c1 = {"small": c1_small, "big": dict(big)}
    c2 = {"small": {**c1_small, "s01": np.full((16, 16), 7, np.uint8)}, "big": dict(big),
          "extra": {f"e{i}": rng.standard_normal(100).astype(np.float64) for i in range(30)}}
    ds = Dataset({"c0": c0, "c1": c1, "c2": c2}, root)
    for col, new in (("small", ds.new_small), ("big", ds.new_big)):
        (root / col).mkdir(parents=True)
        for key, arr in c1[col].items():
            if key not in c0[col] or not np.array_equal(arr, c0[col][key]):
                path = root / col / f"{key}.npy"
                np.save(path, arr)
                new.append(path)
    return ds


def write_state(repo: Repository, state: State, message: str) -> str:
    """Commit ``state`` (columns created as needed, keys set) on master; returns the digest."""
    with repo.checkout(write=True) as co:
        for name, samples in state.items():
            col = co.columns.get(name)
            if col is None:
                col = co.add_ndarray_column(name, prototype=next(iter(samples.values())))
            with col:
                for key, arr in samples.items():
                    col[key] = arr
        return co.commit(message)


# -- templates --------------------------------------------------------------------------------
@dataclass
class World:
    """Template repositories (never modified by tests: copy them with :func:`place`)."""

    root: Path
    data: Dataset
    commits: dict[str, str]
    client: dict[str, Path]       # "c0", "c1", "c2": client repos with history up to that commit
    server: dict[str, Path]       # "c0", "c1": bare server repos with master at that commit
    clone_c0: Path                # clone of server c0, data fetched
    clone_c1_nodata: Path         # clone of server c1, bookkeeping only


def build_world(root: Path) -> World:
    data = make_dataset(root / "files")
    client: dict[str, Path] = {}
    server: dict[str, Path] = {}
    commits: dict[str, str] = {}
    repo = Repository(root / "client", exists=False)
    repo.init("tester", "t@x")
    commits["c0"] = write_state(repo, data.states["c0"], "c0")
    client["c0"] = snapshot(root / "client", root / "t-client-c0")
    commits["c1"] = write_state(repo, data.states["c1"], "c1")
    client["c1"] = snapshot(root / "client", root / "t-client-c1")
    commits["c2"] = write_state(repo, data.states["c2"], "c2")
    client["c2"] = snapshot(root / "client", root / "t-client-c2")

    srv = Repository(root / "server", exists=False)
    srv.init("server", "s@x", bare=True)
    pusher = Repository(place(client["c0"], root / "pusher"))
    pusher.remote.add("origin", str(root / "server"))
    pusher.remote.push("origin", "master")
    server["c0"] = snapshot(root / "server", root / "t-server-c0")
    pusher = Repository(place(client["c1"], root / "pusher1", remote=root / "server"))
    pusher.remote.push("origin", "master")
    server["c1"] = snapshot(root / "server", root / "t-server-c1")

    clone = Repository(root / "clone0", exists=False)
    clone.clone("cloner", "c@x", str(server["c0"]))
    clone.remote.fetch_data("origin", "master")
    clone_c0 = snapshot(root / "clone0", root / "t-clone-c0")
    clone = Repository(root / "clone1", exists=False)
    clone.clone("cloner", "c@x", str(server["c1"]))
    clone_c1 = snapshot(root / "clone1", root / "t-clone-c1-nodata")
    return World(root, data, commits, client, server, clone_c0, clone_c1)


def snapshot(src: Path, dst: Path) -> Path:
    return place(src, dst)


def place(template: Path, dst: Path, *, remote: Optional[Path] = None) -> Path:
    """Copy a repository; point its store config (and ``origin``, if given) at the copy."""
    shutil.copytree(template, dst, symlinks=True)
    git = GitRepo.discover(str(dst))
    assert git is not None
    git.config_set("hangar.store", os.path.join(git.git_dir, "hangar", "store"))
    if remote is not None:
        git.config_set("hangar-remote.origin.url", str(remote))
    for name in ("writer.lock",):
        assert not os.path.exists(os.path.join(git.git_dir, "hangar", name)), "template left a lock"
    return dst


# -- subprocesses -------------------------------------------------------------------------------
def subprocess_env(fault: Optional[str] = None, log: Optional[Path] = None) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", os.defpath)])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC_ROOT), env.get("PYTHONPATH")) if p)
    env.pop("HANGAR_FAULT", None)
    env.pop("HANGAR_FAULT_LOG", None)
    if fault:
        env["HANGAR_FAULT"] = fault
    if log is not None:
        env["HANGAR_FAULT_LOG"] = str(log)
    return env


def git_hangar(*args: Any, cwd: Path, fault: Optional[str] = None, log: Optional[Path] = None,
               timeout: float = 120) -> subprocess.CompletedProcess:
    """`git hangar ARGS` in ``cwd``; with ``fault`` the kill point is armed (and inherited
    by the local `git-hangar serve` it may start)."""
    return subprocess.run(["git", "hangar", "-q", *map(str, args)], cwd=cwd,
                          env=subprocess_env(fault, log), capture_output=True, text=True,
                          timeout=timeout)


def fault_hits(log: Path) -> list[tuple[str, int]]:
    """(kill point, pid) of every process the armed kill point killed."""
    if not log.exists():
        return []
    return [(name, int(pid)) for name, pid in (line.split() for line in log.read_text().splitlines())]


# -- checks ------------------------------------------------------------------------------------
def git_fsck(path: Path) -> None:
    """`git fsck --full` must pass: no ref points at a missing or broken object."""
    proc = subprocess.run(["git", "fsck", "--full", "--no-progress"], cwd=path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, f"git fsck in {path}:\n{proc.stdout}{proc.stderr}"


def hangar_fsck(path: Path) -> None:
    """The repository opens and ``repo.fsck()`` finds nothing wrong (git fsck included)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repo = Repository(path)
    report = repo.fsck()
    assert report.ok, f"fsck of {path}:\n{report}"
    repo.ctx.reset_store()


def head(path: Path, ref: str = "refs/hangar/heads/master") -> Optional[str]:
    git = GitRepo.discover(str(path))
    assert git is not None
    return git.get_ref(ref)


def parents(path: Path, commit: str) -> list[str]:
    git = GitRepo.discover(str(path))
    assert git is not None
    return list(git.commit_info(commit).parents)


def read_commit(path: Path, commit: str, *, allow_missing: bool = False) -> tuple[State, int]:
    """Every sample of ``commit`` (those without local data skipped when ``allow_missing``)."""
    out: State = {}
    missing = 0
    repo = Repository(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # partial data
        co = repo.checkout(commit=commit)
    try:
        for name in co.columns:
            col = co.columns[name]
            out[name] = {}
            for key in col.keys():
                try:
                    out[name][key] = col[key]
                except MissingDataError:
                    if not allow_missing:
                        raise
                    missing += 1
    finally:
        co.close()
        repo.ctx.reset_store()
    return out, missing


def assert_state(path: Path, commit: str, expected: State, *, allow_missing: bool = False) -> int:
    """``commit`` reads back exactly ``expected`` (dtype, shape, bytes); returns the count of
    samples skipped for lack of local data (only with ``allow_missing``)."""
    got, missing = read_commit(path, commit, allow_missing=allow_missing)
    assert sorted(got) == sorted(expected), (sorted(got), sorted(expected))
    for name, samples in expected.items():
        if not allow_missing:
            assert sorted(got[name]) == sorted(samples), name
        for key, arr in got[name].items():
            want = samples[key]
            assert arr.dtype == want.dtype and arr.shape == want.shape, (name, key)
            assert arr.tobytes() == want.tobytes(), f"{name}[{key!r}] differs at {commit}"
    return missing


def wait_for_servers(path: Path, timeout: float = 30) -> None:
    """Wait until no `serve PATH` process of ``path`` is left (a killed client's server
    finishes what it had received before it sees the end of its input)."""
    import time
    needle = f"serve\0{os.path.abspath(path)}".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open(f"/proc/{pid}/cmdline", "rb") as fh:
                        busy = busy or needle in fh.read()
                except OSError:
                    continue
        if not busy:
            return
        time.sleep(0.05)
    raise AssertionError(f"a server of {path} is still running after {timeout}s")
