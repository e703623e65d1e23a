"""fsck: check git records, that every sample has its data (or a remote has it), and the store."""
from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Optional, Sequence, TypeVar

from ..bookkeeping.damage import READ_FAILURES, Scan
from ..bookkeeping.gitrepo import HANGAR_NS, GitRepo, Oid
from ..bookkeeping.records import decode_key
from ..bookkeeping.snapshot import Snapshot, samples_records
from ..bookkeeping.transfer import history_digests
from ..storage import Digest
from . import sharing
from .context import RepoContext
from .hints import fetch_data_hint

T = TypeVar("T")


@dataclass
class FsckReport:
    """Outcome of :func:`fsck`; ``ok`` when ``problems`` is empty."""

    commits: int = 0
    samples: int = 0
    remote_references: int = 0
    objects_verified: int = 0
    problems: list[str] = field(default_factory=list)
    repair: str = ""
    """How to repair what is damaged among the problems (git objects, stored samples; '' when
    nothing is)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {"ok": self.ok, "commits": self.commits, "samples": self.samples,
                "remote_references": self.remote_references, "objects_verified": self.objects_verified,
                "problems": list(self.problems), "repair": self.repair}

    def __str__(self) -> str:
        lines = [f"checked {self.commits} commit(s), {self.samples} distinct sample(s), "
                 f"{self.objects_verified} stored object(s); {self.remote_references} remote reference(s)"]
        lines += [f"problem: {p}" for p in self.problems]
        summary = f"{len(self.problems)} problem(s) found" + (f"; {self.repair}" if self.repair else "")
        lines.append("ok" if self.ok else summary)
        return "\n".join(lines)


def fsck(ctx: RepoContext, quick: bool = False) -> FsckReport:
    """Check everything; ``quick`` skips re-hashing stored data. Every ref's commits, trees and
    blobs are read: each damaged or missing one is a problem naming its branch, commit and column,
    and the checks go on with the rest."""
    report = FsckReport()
    git = ctx.git
    refs = git.list_refs(HANGAR_NS + "/")  # names below refs/hangar/: heads/..., remotes/..., staging
    scan = Scan(git).refs(refs)
    report.problems += scan.problems() + _git_fsck(git.git_dir, set(scan.damage))
    _check(ctx, quick, report, scan, refs)
    if scan.damage:  # the git objects' repair first: the data's fetch-data needs the records
        report.repair = "; ".join(filter(None, (repair_advice(ctx, scan.damaged_files()), report.repair)))
    return report


def repair_advice(ctx: RepoContext, files: Sequence[str]) -> str:
    """How to repair damaged git objects (their loose ``files``): remove the files, then fetch
    the records again from this repository's remote; a backup when it has none."""
    names = ctx.remote_names()
    plural = "s" if len(files) > 1 else ""
    if not names:
        what = f"the file{plural} {' '.join(files)}" if files else "the damaged objects"
        return f"restore {what} from a backup or another copy of this repository (it has no remotes)"
    remove = f"remove the damaged file{plural} (`rm -f {' '.join(map(shlex.quote, files))}`), then " if files else ""
    command = f"git hangar fetch --refetch {shlex.quote(names[0])}" if len(names) == 1 else \
        "git hangar fetch --refetch --all"
    return f"{remove}fetch the records again from a remote that has them: `{command}`"


def _check(ctx: RepoContext, quick: bool, report: FsckReport, scan: Scan, refs: dict[str, Oid]) -> None:
    git = ctx.git
    report.problems += [f"record cache entry of shard {oid} was damaged or disagreed with git; removed "
                        f"(it is rebuilt from git on the next scan)"
                        for oid in git.record_cache.audit(lambda o: _readable(scan, git.read_blob, o))]
    report.problems += [f"key index of records tree {tree} was damaged or disagreed with git; removed "
                        f"(it is rebuilt on the next commit or random reads)"
                        for tree in git.key_indexes.audit(
                            lambda t: _readable(scan, partial(samples_records, git), t))]
    report.commits = len(scan.commits)
    digests = list(scan.digests)
    report.samples = len(digests)
    missing = ctx.store.missing([Digest(d) for d in digests])
    damaged = set(ctx.store.damaged(missing)) if missing else set()
    if damaged:
        report.problems += _capped([f"object {d} is damaged here (its copy failed its digest check)"
                                    for d in sorted(damaged)], "damaged objects")
        report.repair = (f"{len(damaged)} damaged object(s): {fetch_data_hint(ctx, [ctx.default_branch], them=True)}"
                         f" (fetch-data replaces damaged copies)")
    if missing:
        remote_heads = [oid for name, oid in refs.items() if name.startswith("remotes/")
                        and name not in scan.damaged_refs]
        on_remotes = set(history_digests(git, remote_heads))
        lost = [d for d in missing if d not in on_remotes and d not in damaged]
        report.remote_references = len(missing) - len(lost) - len(damaged)
        report.problems += _capped([f"sample data {d} is neither here nor on any fetched remote branch"
                                    for d in lost], "samples without data")
    store_problems = ctx.store.verify(rehash=not quick)  # type: ignore[attr-defined]
    report.problems += _capped(store_problems, "problems of the store")
    if missing or (store_problems and ctx.store.missing([Digest(d) for d in digests])):
        sharing.forget_presence(ctx)  # columns marked complete lost data (fetch-data brings it back): check afresh
    report.objects_verified = sum(1 for _ in ctx.store.iter_objects())
    report.problems = name_samples(git, scan.intact, report.problems)


LISTED = 100
"""Problems of one kind listed one by one; the rest are counted (one flipped byte of a chunk of
1,000 objects listed 1,000 lines)."""


def _capped(lines: list[str], what: str) -> list[str]:
    return lines if len(lines) <= LISTED else lines[:LISTED] + [f"... and {len(lines) - LISTED} more {what}"]


def _readable(scan: Scan, read: Callable[[Oid], T], oid: str) -> Optional[T]:
    """``read(oid)``, or None when git lacks the object or cannot read it (the scan lists it;
    it is not read again: libgit2 may never return from a truncated loose object)."""
    if not scan.sound(oid):
        return None
    try:
        return read(Oid(oid))
    except READ_FAILURES:
        return None


_DIGEST = re.compile(r"\b[0-9a-f]{64}\b")
NAMED = 100
"""At most this many problems get the column and key of their sample (each costs a record scan)."""


def name_samples(git: GitRepo, commits: Sequence[str], problems: list[str]) -> list[str]:
    """``problems`` with each sample digest followed by where it is used: column, key, commit."""
    wanted = {m for p in problems[:NAMED] for m in _DIGEST.findall(p)}
    if not wanted:
        return problems
    where = {d: f"column {col!r} key {key!r} in commit {commit}"
             for d, (col, key, commit) in locate_samples(git, commits, wanted).items()}
    out = []
    for problem in problems:
        found = [where[d] for d in _DIGEST.findall(problem) if d in where]
        out.append(f"{problem} ({'; '.join(found)})" if found else problem)
    return out


def locate_samples(git: GitRepo, commits: Sequence[str], wanted: set[str]) -> dict[str, tuple[str, Any, str]]:
    """Digest -> (column, key, commit) of the first of ``commits`` (newest first) using it."""
    found: dict[str, tuple[str, Any, str]] = {}
    seen: set[str] = set()
    for commit in commits:
        snap = Snapshot(git, git.commit_info(commit).tree)
        for name, tree in sorted(snap.column_trees.items()):
            if tree in seen:
                continue
            seen.add(tree)
            for enc, digest in snap.column(name).items():
                if digest in wanted and digest not in found:
                    found[digest] = (name, decode_key(enc), commit)
        if len(found) == len(wanted):
            break
    return found


def _git_fsck(git_dir: str, known: set[str]) -> list[str]:
    """What ``git fsck`` (when git is installed: it checks every object's hash, the code's too)
    finds beyond the ``known`` damaged objects: one line per object it names, its notices and
    follow-up lines left out."""
    if shutil.which("git") is None:
        return []
    proc = subprocess.run(["git", "--git-dir", git_dir, "fsck", "--full", "--no-dangling", "--no-progress"],
                          capture_output=True, text=True)
    if proc.returncode == 0:
        return []
    lines = [ln.strip() for ln in "\n".join((proc.stderr, proc.stdout)).splitlines()
             if ln.strip() and not ln.strip().startswith(("notice:", "dangling ", "broken link", "to "))]
    named: dict[str, str] = {}
    for line in lines:
        for oid in _OID.findall(line):
            named.setdefault(oid, line)
    if named:
        return list(dict.fromkeys(f"git fsck: {line}" for oid, line in named.items() if oid not in known))[:50]
    return [f"git fsck: {ln}" for ln in lines[:50]] or [f"git fsck exited {proc.returncode}"]


_OID = re.compile(r"\b[0-9a-f]{40}\b")


def fsck_remote(ctx: RepoContext, remote: str, link: Any) -> FsckReport:
    """Check that every sample the history of ``remote``'s branches references is in the remote's
    data (a hangar server's store, or a git remote's data store), asking its index, never listing
    it. The branches' records are fetched first (as ``remote/branch``)."""
    report = FsckReport()
    git = ctx.git
    heads = link.heads()
    checked: set[str] = set()
    lost: list[tuple[str, str]] = []
    for branch in sorted(heads):
        head = link.fetch(branch).head
        report.commits += sum(1 for _ in git.walk([head]))
        digests = [d for d in history_digests(git, [head]) if d not in checked]
        checked.update(digests)
        lost += [(branch, d) for d in link.missing(digests)]
    report.samples = len(checked)
    report.objects_verified = len(checked) - len(lost)
    report.problems += [f"sample data {d} of {remote}/{branch} is not in the remote's data store"
                        for branch, d in lost[:100]]
    if len(lost) > 100:
        report.problems.append(f"... and {len(lost) - 100} more samples missing from {remote}")
    report.problems = name_samples(git, [c.oid for c in git.walk(list(heads.values()))] if heads else [],
                                   report.problems)
    return report
