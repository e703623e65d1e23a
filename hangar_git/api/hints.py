"""The one home of the advice about sample data that is not on this machine: the real
``git hangar fetch-data`` command(s), built from the repository's remotes and what is
missing (a branch, or ``--commit DIGEST``), never a placeholder such as REMOTE.

* no remote (or none but the one being refused, for a push): no fetch-data at all, but
  `git hangar remote add NAME ADDRESS` (NAME and ADDRESS are the user's to choose);
* one remote: that one (``git hangar fetch-data origin master``);
* several: the remote whose remote-tracking branches reach the commit (a remote holds the
  data of what its branches reach); if that leaves several (or none), the branch's upstream
  (:mod:`..core.upstream`), else the one remote with a remote-tracking branch of that name;
  when none of this tells, every remote, each as a command to choose from.

Every message about missing data (a sample's MissingDataError, the checkout's warning,
`status`, `show`, `export`, a dataset, a refused push) words its advice with
:func:`fetch_data_hint`.
"""
from __future__ import annotations

import shlex
from typing import Optional, Sequence

from ..bookkeeping.gitrepo import REMOTES, branch_ref, remote_ref
from ..core import upstream
from ..errors import PushDataMissingError
from .context import RepoContext

COMMIT_OPTION = "--commit"


def revision_words(branch: str, commit: str) -> list[str]:
    """How fetch-data names what a checkout shows: the branch, else ``--commit DIGEST``."""
    return [branch] if branch else [COMMIT_OPTION, commit]


def data_remotes(ctx: RepoContext, words: Sequence[str], commit: Optional[str] = None,
                 exclude: Sequence[str] = ()) -> list[str]:
    """The remotes to suggest fetching the data of ``words`` (a branch, or ``--commit D``) from:
    see the module's docstring. ``commit``: the commit whose data is missing (default: the
    one ``words`` names)."""
    names = [n for n in ctx.remote_names() if n not in exclude]
    if len(names) <= 1:
        return names
    git = ctx.git
    branch = words[0] if words and words[0] != COMMIT_OPTION else ""
    commit = commit or (words[1] if not branch else git.get_ref(branch_ref(branch)))
    holders = [n for n in names if commit and _reaches(ctx, n, commit)]
    if len(holders) == 1:
        return holders
    tracked = upstream.of(git, branch) if branch else None
    if tracked is not None and tracked.remote in (holders or names):
        return [tracked.remote]
    choices = holders or names
    tracking = [n for n in choices if branch and git.get_ref(remote_ref(n, branch)) is not None]
    return tracking if len(tracking) == 1 else choices


def _reaches(ctx: RepoContext, remote: str, commit: str) -> bool:
    """Whether a remote-tracking branch of ``remote`` (as last fetched) contains ``commit``."""
    return any(ctx.git.is_ancestor(commit, head) for head in ctx.git.list_refs(f"{REMOTES}{remote}/").values())


def fetch_data_command(remote: str, words: Sequence[str], options: Sequence[str] = ()) -> str:
    """``git hangar fetch-data REMOTE WORDS... OPTIONS...``, quoted for a shell."""
    return shlex.join(["git", "hangar", "fetch-data", remote, *words, *options])


def fetch_data_hint(ctx: RepoContext, words: Sequence[str], *, commit: Optional[str] = None,
                    options: Sequence[str] = (), exclude: Sequence[str] = (), them: bool = False,
                    stream: bool = False) -> str:
    """What to do about data of ``words`` that is not here, as a clause: ``run `git hangar
    fetch-data origin master` to retrieve it`` (``them`` for several samples; ``stream``: also
    how to read it through the remote instead, for the Python API)."""
    it = "them" if them else "it"
    names = data_remotes(ctx, words, commit, exclude)
    commands = [fetch_data_command(name, words, options) for name in names]
    streaming = " or ".join(f"repo.checkout(stream_from={name!r})" for name in names)
    streaming = f", or read {it} through the remote with {streaming}" if stream and names else ""
    if len(commands) == 1:
        return f"run `{commands[0]}` to retrieve {it}{streaming}"
    if commands:
        listed = " or ".join(f"`{c}`" for c in commands)
        return f"run {listed} (whichever remote holds {it}) to retrieve {it}{streaming}"
    if exclude and ctx.remote_names():
        return (f"no remote but {', '.join(map(repr, exclude))} is configured to fetch {it} from: add a "
                f"repository that holds {it} with `git hangar remote add NAME ADDRESS`, then fetch-data from it")
    return (f"this repository has no remote to fetch {it} from: `git hangar fsck` lists what is missing; "
            f"add a repository that holds {it} with `git hangar remote add NAME ADDRESS`")


def repair_hint(ctx: RepoContext, digest: str, words: Sequence[str], options: Sequence[str] = ()) -> str:
    """For an object found damaged: ``; run `git hangar fetch-data ...` to retrieve it`` once the
    store has marked it so (absent from then on), with every user of the store made to forget
    which columns it knew complete (else fetch-data would skip them); "" while it is still there."""
    from ..storage import Digest
    from .sharing import forget_presence
    if ctx.store.contains(Digest(digest)):
        return ""
    forget_presence(ctx)
    return f"; {fetch_data_hint(ctx, words, options=options)}"


def refused_push(ctx: RepoContext, exc: PushDataMissingError) -> PushDataMissingError:
    """A push refused for data that is on neither this machine nor the remote, as the user should
    read it: a missing sample's column, key and commit rather than its digest, and the fetch-data
    that gets them all here (``--all-history`` when some belong to commits older than the head)."""
    from ..bookkeeping.transfer import referenced_digests
    from .fsck import locate_samples
    git = ctx.git
    head = git.get_ref(branch_ref(exc.branch))
    if head is None or not exc.digests:
        return exc
    first = exc.digests[0]
    located = locate_samples(git, [c.oid for c in git.walk([head])], {first}).get(first)
    where, commit = (f"column {located[0]!r} key {located[1]!r} in commit {located[2]}", located[2]) if located \
        else (f"object {first}", None)
    at_head = referenced_digests(git, [head])
    options = () if all(d in at_head for d in exc.digests) else ("--all-history",)
    hint = fetch_data_hint(ctx, [exc.branch], commit=commit, options=options, exclude=[exc.remote], them=True)
    return PushDataMissingError(
        f"cannot push {exc.branch!r} to {exc.remote!r}: {len(exc.digests)} sample(s) its commits reference "
        f"have their data on neither this machine nor {exc.remote!r} (e.g. {where}): {hint}, then push again",
        remote=exc.remote, branch=exc.branch, digests=exc.digests)
