"""The ``git`` binary as the transport of bookkeeping to and from a plain git host.

A repository's hangar records are git commits under ``refs/hangar/``; any git
host stores them. Refs travel with explicit refspecs (``refs/hangar/heads/B``
on the host, ``refs/hangar/remotes/NAME/B`` here), so the user's own
branches, ``git clone`` and ``git fetch`` of their code never see them.

The git binary, not libgit2, speaks to the host: it honours the user's
``~/.ssh/config``, ``GIT_SSH_COMMAND``, credential helpers and proxies, as
their code pushes do. Every ref move on the host is a compare-and-swap
(``--force-with-lease`` with the exact old value), which ``git
receive-pack`` applies under the ref's lock: of two pushers from the same
old head exactly one wins.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional, Sequence

from ..errors import GitCommandError

ZERO = "0" * 40
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
GIT_SCHEMES = ("ssh", "git+ssh", "ssh+git", "file", "http", "https", "git")
_REJECTED = ("stale info", "fetch first", "non-fast-forward", "failed to update ref", "cannot lock ref",
             "already exists", "failed to lock")


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """Move ``ref`` on the host to ``new`` only if it is at ``old`` now (None: must not exist)."""

    ref: str
    new: str
    old: Optional[str]


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """Refs the host took, and refs it refused with git's reason."""

    updated: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]


def is_git_only_address(address: str) -> bool:
    """Addresses only git can serve (``https://``, ``http://``, ``git://``): no hangar server there."""
    m = _SCHEME.match(address)
    return bool(m) and m.group(1).lower() in ("http", "https", "git")  # type: ignore[union-attr]


def check_git_address(address: str) -> str:
    """``address`` if git can use it as a remote (a path, scp-like, or a known scheme)."""
    from ..errors import InvalidAddressError
    if not isinstance(address, str) or not address.strip() or "\n" in address or "\0" in address:
        raise InvalidAddressError(f"bad git address {address!r}: give a path, ssh://host/path, host:path "
                                  f"or https://host/path")
    m = _SCHEME.match(address)
    if m and m.group(1).lower() not in GIT_SCHEMES:
        raise InvalidAddressError(f"unsupported scheme {m.group(1)!r} in {address!r}: use a path, ssh://, "
                                  f"https:// or file://")
    if address.startswith("-"):
        raise InvalidAddressError(f"git address {address!r} may not start with '-'")
    return address


class GitHost:
    """The git host at ``address``, reached from the repository at ``git_dir``."""

    def __init__(self, git_dir: str, address: str, *, trust_host_key: bool = False) -> None:
        self.git_dir = git_dir
        self.address = check_git_address(address)
        self.trust_host_key = trust_host_key

    # -- running git --------------------------------------------------------------------
    def _env(self) -> dict[str, str]:
        """The environment git runs in: the user's, with OpenSSH told never to prompt (hangar runs
        unattended, as its own SSH does) and, with ``trust_host_key``, to keep a new host's key."""
        env = dict(os.environ)
        if env.get("GIT_SSH"):
            return env
        custom = env.get("GIT_SSH_COMMAND") or self._config("core.sshCommand")
        options = "" if custom else " -o BatchMode=yes"
        if self.trust_host_key:  # as --trust-host-key does for hangar's own SSH: changed keys are still refused
            options += " -o StrictHostKeyChecking=accept-new"
        if options:
            env["GIT_SSH_COMMAND"] = (custom or "ssh") + options
        return env

    def _config(self, key: str) -> Optional[str]:
        done = subprocess.run(["git", "--git-dir", self.git_dir, "config", "--get", key],
                              capture_output=True, text=True)
        return done.stdout.strip() or None

    def run(self, what: str, args: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess:
        """``git <args>`` in this repository; GitCommandError (git's own words) when it fails."""
        if shutil.which("git") is None:
            raise GitCommandError("the git command is not installed: install git to use a remote on a git host",
                                  address=self.address)
        command = ["git", "--git-dir", self.git_dir, "-c", "gc.auto=0", "-c", "maintenance.auto=false", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=self._env(),
                                  stdin=subprocess.DEVNULL)
        except OSError as exc:
            raise GitCommandError(f"cannot run git ({exc})", address=self.address) from None
        if check and done.returncode != 0:
            raise self.failure(what, done.stderr)
        return done

    def failure(self, what: str, stderr: str) -> GitCommandError:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
        useful = [ln for ln in lines if ln.startswith(("fatal:", "error:", "ERROR", "remote:"))] or lines
        detail = " ".join(useful[-3:]) or "no message"
        return GitCommandError(f"{what} {self.address} failed: {detail}", address=self.address, detail=stderr)

    # -- operations ---------------------------------------------------------------------
    def list_refs(self, prefix: str = "refs/hangar/") -> dict[str, str]:
        """Ref name -> object id of the host's refs under ``prefix``."""
        done = self.run("git ls-remote", ["ls-remote", "--refs", "--", self.address, prefix + "*"])
        out: dict[str, str] = {}
        for line in done.stdout.splitlines():
            oid, _, name = line.partition("\t")
            if name.startswith(prefix) and len(oid) == 40:
                out[name] = oid
        return out

    def fetch(self, refspecs: Sequence[str], refetch: bool = False) -> None:
        """Bring the objects of ``refspecs`` (``+src:dst`` or a bare ``src``) from the host;
        ``refetch``: all of them, as a fresh clone would (git 2.36 or later)."""
        self.run("git fetch from", ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head",
                                    "--no-recurse-submodules", *(["--refetch"] if refetch else []),
                                    "--", self.address, *refspecs])

    def push(self, updates: Sequence[RefUpdate]) -> PushOutcome:
        """Send the objects of ``updates`` and move each ref by compare-and-swap.

        Refusals (the ref moved since we looked) come back in the outcome;
        everything else that fails (unreachable, no access) raises.
        """
        leases = [f"--force-with-lease={u.ref}:{u.old or ''}" for u in updates]
        specs = [f"{u.new}:{u.ref}" for u in updates]
        done = self.run("git push to", ["push", "--porcelain", "--quiet", *leases, "--", self.address, *specs],
                        check=False)
        updated, rejected = [], []
        for line in done.stdout.splitlines():
            flag, _, rest = line.partition("\t")
            if flag not in ("*", " ", "+", "=", "!", "-") or "\t" not in rest:
                continue
            spec, _, summary = rest.partition("\t")
            ref = spec.rpartition(":")[2]
            (rejected.append((ref, summary)) if flag == "!" else updated.append(ref))
        if done.returncode != 0 and not rejected:
            raise self.failure("git push to", done.stderr)
        unexplained = [(r, s) for r, s in rejected if not any(k in s for k in _REJECTED)]
        if unexplained:
            ref, summary = unexplained[0]
            raise GitCommandError(f"git push to {self.address} failed: {ref} {summary}; "
                                  f"{' '.join(done.stderr.split())[:300]}", address=self.address,
                                  detail=done.stderr)
        return PushOutcome(tuple(updated), tuple(rejected))
