"""`show` and `ls`: looking at a commit, a column or one sample."""
from __future__ import annotations

import datetime
import sys
from typing import Any, Optional

import click

from .staging import escaped
from .common import (State, fmt_digest, open_rev, pass_state, resolve_keys, resolve_rev, str_keys_option,
                     without_missing_data_warning, complete_branches, complete_columns)


def column_line(name: str, col: Any) -> str:
    """NAME<TAB>TYPE<TAB>DTYPE<TAB>SHAPE<TAB>SAMPLES, as `ls` lists columns."""
    dtype = getattr(col.dtype, "__name__", None) or str(col.dtype)
    shape = "-" if col.shape is None else "x".join(map(str, col.shape)) or "()"
    if col.column_type == "ndarray" and col.schema_type == "variable_shape":
        shape = f"<={shape}"
    return f"{name}\t{col.column_type}\t{dtype}\t{shape}\t{len(col)}"


def print_sample(value: Any) -> None:
    if isinstance(value, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(value)
    elif isinstance(value, str):
        click.echo(value)
    else:
        import numpy as np
        click.echo(np.array2string(value, separator=", ", threshold=1000))


SAMPLE_TEXT = 80
"""Characters of a str or bytes sample `show REV COLUMN` prints on its line (then ``...``)."""
SAMPLE_ITEMS = 12
"""Items of an array sample `show REV COLUMN` prints in full; larger ones show their edges."""


def sample_summary(value: Any) -> str:
    """One sample on one line: SHAPE<TAB>VALUES for an array (numpy's notation, only the edges
    of a large one), the text (repr, cut) of a str or bytes."""
    if isinstance(value, (str, bytes)):
        text = repr(value)
        cut = text if len(text) <= SAMPLE_TEXT else text[:SAMPLE_TEXT] + "..."
        return f"{len(value)} {'chars' if isinstance(value, str) else 'bytes'}\t{cut}"
    import numpy as np
    text = np.array2string(value, separator=", ", threshold=SAMPLE_ITEMS, edgeitems=2, max_line_width=10**9)
    shape = "x".join(map(str, value.shape)) or "()"
    return f"{shape}\t" + " ".join(line.strip() for line in text.splitlines())


def show_column(name: str, col: Any, limit: int) -> None:
    """`show REV COLUMN`: the column as `ls` lists it, then KEY<TAB>SHAPE<TAB>VALUES per sample
    (the first ``limit``; 0 for all) in key order, as `ls REV COLUMN` lists the keys."""
    from ..api.keytext import key_to_text
    from ..bookkeeping.records import key_sort
    from ..errors import MissingDataError
    click.echo(column_line(name, col))
    keys = key_sort(col.keys())
    shown = keys if limit <= 0 else keys[:limit]
    absent = 0
    for key in shown:
        try:
            summary = sample_summary(col[key])
        except MissingDataError:
            summary, absent = "-\t(data not on this machine)", absent + 1
        click.echo(f"{key_to_text(key)}\t{summary}")
    if absent:
        click.echo(f"{absent} of these sample(s) have no data on this machine: "
                   f"{col.fetch_data_hint(('--column', name), them=True)}")
    if len(shown) < len(keys):
        click.echo(f"... {len(keys) - len(shown)} more sample(s): `-n 0` shows all, `git hangar show REV "
                   f"COLUMN KEY` one in full")


@click.command()
@click.argument("rev", required=False, shell_complete=complete_branches)
@click.argument("column", required=False, shell_complete=complete_columns)
@click.argument("key", required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write the sample to FILE (.npy for arrays; the text or bytes as they are) instead of "
                   "printing it.")
@click.option("--force", is_flag=True, help="With -o: overwrite FILE if it exists.")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="REV COLUMN: show this many samples (0: all).")
@str_keys_option
@click.option("--stream-from", "stream_from", metavar="REMOTE",
              help="Read a sample whose data is not here from REMOTE (nothing is fetched into the store).")
@pass_state
@without_missing_data_warning
def show(state: State, rev: Optional[str], column: Optional[str], key: Optional[str], output: Optional[str],
         force: bool, limit: int, str_keys: bool, stream_from: Optional[str]) -> None:
    """Show a commit, a column of it, or one sample (REV COLUMN KEY).

    REV is a branch, REMOTE/BRANCH or a commit (digest or unique prefix);
    it defaults to HEAD, the head of the write branch, as in git. REV COLUMN prints the column as `ls` lists it, then a line per sample
    (KEY, SHAPE, its values in numpy's notation, large ones cut to their
    edges); REV COLUMN KEY prints that one sample in full.
    """
    if output and key is None:
        raise click.UsageError("-o writes one sample: give REV COLUMN KEY")
    repo = state.repo
    digest = resolve_rev(repo, rev or "HEAD")
    with open_rev(repo, rev, stream_from=stream_from or "") as co:
        if column is None:
            show_commit(repo, digest, co)
            return
        col = co.columns[column]
        if key is None:
            show_column(column, col, limit)
            return
        value = col[resolve_keys(col, [key], str_keys)[0]]
    if output:
        from ..api.exporters import write_sample
        write_sample(value, output, force)
        state.say(f"Wrote sample {key} of column {column!r} to {output}")
    else:
        print_sample(value)


def show_commit(repo: Any, digest: str, co: Any) -> None:
    info = repo.ctx.git.commit_info(digest)
    when = datetime.datetime.fromtimestamp(info.time, datetime.timezone.utc)
    click.echo(f"commit {fmt_digest(digest)}")
    if len(info.parents) > 1:
        click.echo("Merge: " + " ".join(fmt_digest(p)[:9] for p in info.parents))
    click.echo(f"Author: {info.author} <{info.email}>")
    click.echo(f"Date:   {when:%Y-%m-%d %H:%M:%S} UTC")
    click.echo("")
    for line in info.message.rstrip("\n").splitlines():
        click.echo(f"    {line}")
    click.echo("")
    for name in sorted(co.columns):
        click.echo(column_line(name, co.columns[name]))
    for key, value in co.metadata.items():
        click.echo(f"metadata {key}\t{escaped(value)}")  # one line each, as `metadata` lists them


@click.command()
@click.argument("rev", required=False, shell_complete=complete_branches)
@click.argument("column", required=False, shell_complete=complete_columns)
@pass_state
@without_missing_data_warning
def ls(state: State, rev: Optional[str], column: Optional[str]) -> None:
    """List the columns of REV, or the keys of COLUMN at REV.

    Columns print as NAME TYPE DTYPE SHAPE SAMPLES (tab-separated); keys one
    per line, ints before strs (a str key that looks like an int is quoted: '1'). REV defaults to the head of the write branch.
    """
    repo = state.repo
    with open_rev(repo, rev) as co:
        if column is None:
            for name in sorted(co.columns):
                click.echo(column_line(name, co.columns[name]))
            return
        from ..api.keytext import key_to_text
        from ..bookkeeping.records import key_sort
        for key in key_sort(co.columns[column].keys()):
            click.echo(key_to_text(key))


COMMANDS = [show, ls]
