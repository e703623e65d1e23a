"""Commit history drawn as a lane graph, like ``git log --graph``.

Each lane is a column of the drawing (two characters wide) waiting for one
commit. A commit is drawn as ``*`` in its lane; its parents take over that
lane (a merge opens lanes to its right), a parent some other lane already
waits for is joined by a diagonal edge, and lanes that end let the lanes on
their right close up. Between commit rows, edges move at most one column
per row (``\\`` right, ``/`` left), so every edge is drawn unbroken::

    *   a=... (master) : merge
    |\\
    | * a=... (dev) : on dev
    * | a=... : on master
    |/
    * a=... : first commit
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from ..bookkeeping.gitrepo import HEADS, REMOTES
from ..errors import InvalidArgumentError
from .context import RepoContext

RESET = "\033[m"
LANE_COLOURS = ("\033[31m", "\033[32m", "\033[33m", "\033[34m", "\033[35m", "\033[36m",
                "\033[1;31m", "\033[1;32m", "\033[1;33m", "\033[1;34m", "\033[1;35m", "\033[1;36m")
DIGEST_COLOUR, LOCAL_COLOUR, REMOTE_COLOUR = "\033[33m", "\033[1;32m", "\033[1;31m"


@dataclass
class _Edge:
    src: int
    dst: int
    colour: int


class GraphRenderer:
    """Turns commits (newest first, parents after children) into graph rows."""

    def __init__(self, colour: bool = False) -> None:
        self.colour = colour
        self.lanes: list[str] = []
        self.lane_colours: list[int] = []
        self._next_colour = 0

    def _fresh_colour(self) -> int:
        self._next_colour = (self._next_colour + 1) % len(LANE_COLOURS)
        return self._next_colour

    def _paint(self, char: str, colour: Optional[int]) -> str:
        if not self.colour or colour is None or char == " ":
            return char
        return f"{LANE_COLOURS[colour]}{char}{RESET}"

    def rows(self, commit: str, parents: list[str], text: str) -> list[str]:
        """Graph rows for one commit: its own row (with ``text``), then edge rows."""
        if commit not in self.lanes:
            self.lanes.append(commit)
            self.lane_colours.append(self._fresh_colour())
        at = self.lanes.index(commit)
        new_lanes, new_colours, edges = self._advance(at, parents)
        cells = {2 * k: ("*" if k == at else "|", None if k == at else c)
                 for k, c in enumerate(self.lane_colours)}
        width = 2 * max(len(self.lanes), len(new_lanes))
        out = [self._line(cells, width) + text]
        out += self._edge_rows(edges)
        self.lanes, self.lane_colours = new_lanes, new_colours
        return out

    def _advance(self, at: int, parents: list[str]) -> tuple[list[str], list[int], list[_Edge]]:
        new: list[str] = []
        colours: list[int] = []
        edges: list[_Edge] = []

        def place(commit: str, colour: int) -> int:
            if commit in new:
                return new.index(commit)
            new.append(commit)
            colours.append(colour)
            return len(new) - 1

        for k, waiting in enumerate(self.lanes):
            if k != at:
                dst = place(waiting, self.lane_colours[k])
                edges.append(_Edge(k, dst, colours[dst]))
                continue
            for n, parent in enumerate(parents):
                dst = place(parent, self.lane_colours[k] if n == 0 else self._fresh_colour())
                edges.append(_Edge(k, dst, colours[dst]))
        return new, colours, edges

    def _edge_rows(self, edges: list[_Edge]) -> list[str]:
        pos = [e.src for e in edges]
        rows = []
        while any(p != e.dst for p, e in zip(pos, edges)):
            cells: dict[int, tuple[str, Optional[int]]] = {}
            moved = [False] * len(edges)
            for i, e in enumerate(edges):          # left moves first, right moves yield to them
                if pos[i] > e.dst:
                    cells[2 * pos[i] - 1] = ("/", e.colour)
                    moved[i] = True
            for i, e in enumerate(edges):
                if pos[i] < e.dst and cells.get(2 * pos[i] + 1, ("\\",))[0] != "/":
                    cells[2 * pos[i] + 1] = ("\\", e.colour)
                    moved[i] = True
            for i, e in enumerate(edges):
                if not moved[i]:
                    cells.setdefault(2 * pos[i], ("|", e.colour))
            for i, e in enumerate(edges):
                if moved[i]:
                    pos[i] += 1 if pos[i] < e.dst else -1
            rows.append(self._line(cells, 0).rstrip())
        return rows

    def _line(self, cells: dict[int, tuple[str, Optional[int]]], width: int) -> str:
        size = max(width, max(cells) + 1 if cells else 0)
        chars = [" "] * size
        for at, (char, colour) in cells.items():
            chars[at] = self._paint(char, colour)
        return "".join(chars)


def graph_order(tips: list[str], parents: dict[str, list[str]], times: dict[str, int]) -> list[str]:
    """Commits newest first in git's graph order (``--topo-order``).

    A commit comes only after all its children; after a commit, its last
    parent's line is followed first (a stack), so each branch's commits stay
    together, as ``git log --graph`` shows them.
    """
    pending = {c: 0 for c in parents}
    for c in parents:
        for p in parents[c]:
            if p in pending:
                pending[p] += 1
    starts = sorted((t for t in dict.fromkeys(tips) if pending.get(t) == 0), key=lambda t: -times[t])
    stack = starts[::-1]
    order: list[str] = []
    while stack:
        commit = stack.pop()
        order.append(commit)
        for p in parents[commit]:
            if p in pending:
                pending[p] -= 1
                if pending[p] == 0:
                    stack.append(p)
    return order


def draw(order: Iterable[str], parents: dict[str, list[str]], texts: dict[str, str],
         colour: bool = False) -> Iterator[str]:
    """Lines of the graph of ``order`` (newest first), each commit followed by its text."""
    graph = GraphRenderer(colour)
    for commit in order:
        yield from graph.rows(commit, parents[commit], texts[commit])


# -- repo.log -----------------------------------------------------------------------------
def branch_labels(ctx: RepoContext) -> dict[str, str]:
    """Label -> head digest of every local branch and remote-tracking branch (``origin/x``)."""
    heads: dict[str, str] = dict(ctx.git.list_refs(HEADS))
    heads.update(ctx.git.list_refs(REMOTES))
    return heads


def _contents(start: Optional[str], order: list[str], labels: dict[str, str],
              ancestors: dict[str, list[str]], specs: dict[str, dict]) -> dict:
    """What ``log(return_contents=True)`` returns: Hangar 0.5's keys (``order``, ``eval``,
    ``specs`` with ``commit_*`` fields, ``branch_heads``, ``ancestors`` where a root commit's
    parents are ``['']``), plus ``head``, ``heads`` (branch -> digest) and our spec names."""
    branch_heads: dict[str, list[str]] = {}
    for name in sorted(labels):
        branch_heads.setdefault(labels[name], []).append(name)
    listed = {c: specs[c] for c in order}  # the commits listed (``max_count`` of them), not all walked
    hangar_specs = {c: {**s, "commit_message": s["message"], "commit_author": s["author"],
                        "commit_email": s["email"], "commit_time": float(s["time"])}
                    for c, s in listed.items()}
    return {"head": start or (order[0] if order else None), "order": order, "eval": list(order),
            "heads": labels, "branch_heads": branch_heads,
            "ancestors": {c: (ancestors[c] or [""]) for c in order}, "specs": hangar_specs}


def decorations(labels: dict[str, str], current: str, remotes: set[str]) -> dict[str, list[str]]:
    """The branch names each commit is decorated with, in git's order: the current (write)
    branch first, then the other local branches, then the remote-tracking ones, each sorted
    (``(master, b2, origin/master)``). Hangar keeps no tags."""
    by_commit: dict[str, list[str]] = {}
    for name in sorted(labels, key=lambda n: (n != current, n in remotes, n)):
        by_commit.setdefault(labels[name], []).append(name)
    return by_commit


def _describe(commit: str, spec: dict, labels: list[str], show_time: bool, show_user: bool,
              colour: bool, remotes: set[str], abbrev: Optional[int] = None) -> str:
    def paint(text: str, code: str) -> str:
        return f"{code}{text}{RESET}" if colour else text
    parts = [paint(f"a={commit[:abbrev]}", DIGEST_COLOUR)]
    if labels:
        parts.append("(" + ", ".join(paint(name, REMOTE_COLOUR if name in remotes else LOCAL_COLOUR)
                                     for name in labels) + ")")
    if show_time:
        parts.append(f"({time.strftime('%d%b%Y %H:%M:%S', time.gmtime(spec['time']))})")
    if show_user:
        parts.append(f"({spec['author']})")
    subject = spec["message"].strip().splitlines()[0] if spec["message"].strip() else ""
    return " ".join(parts) + f" : {subject}"


def log(ctx: RepoContext, start: Optional[str], *, heads: Optional[list[str]] = None,
        return_contents: bool = False, show_time: bool = False, show_user: bool = False,
        colour: Optional[bool] = None, max_count: Optional[int] = None,
        abbrev: Optional[int] = None) -> Optional[dict]:
    """Print (or return) the history from ``start`` (or from every one of ``heads``): the
    newest ``max_count`` commits (default all), digests cut to ``abbrev`` hex digits."""
    if max_count is not None and (type(max_count) is not int or max_count < 0):
        raise InvalidArgumentError(f"max_count must be a non-negative int, not {max_count!r}")
    tips: list[str] = [start] if start else list(dict.fromkeys(heads or []))
    ancestors: dict[str, list[str]] = {}
    specs: dict[str, dict] = {}
    for info in ctx.git.walk(tips):
        ancestors[info.oid] = list(info.parents)
        specs[info.oid] = {"message": info.message.rstrip("\n"), "author": info.author,
                           "email": info.email, "time": info.time}
    order = graph_order(tips, ancestors, {c: s["time"] for c, s in specs.items()})[:max_count]
    labels = branch_labels(ctx)
    if return_contents:
        return _contents(start, order, labels, ancestors, specs)
    if not order:
        if max_count != 0:  # -n 0 asked for nothing
            print("No commits made")
        return None
    colour = sys.stdout.isatty() if colour is None else colour
    remotes = set(ctx.git.list_refs(REMOTES))
    by_commit = decorations(labels, ctx.default_branch, remotes)
    texts = {c: _describe(c, specs[c], by_commit.get(c, []), show_time, show_user, colour, remotes, abbrev)
             for c in order}
    for line in draw(order, ancestors, texts, colour):
        print(line)
    return None
