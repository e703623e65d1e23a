"""`git hangar add` and `git hangar export`: files in and out of a column."""
from __future__ import annotations

import itertools
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterable, Iterator, Optional

import click

from ..api.repository import Repository
from ..errors import ColumnNotFoundError, ImportFormatError, InvalidNameError, SchemaError
from .common import (State, pass_state, complete_branches, complete_columns, complete_local_branches,
                     without_missing_data_warning)
from ..api.checkout import warn_remote_references
from ..api.hints import revision_words
from ..api.exporters import FORMATS, export_column
from ..api.importcount import count_samples
from ..api.importers import (KEY_FROM, ROWS_BLOCK, Importer, ImportOptions, Key, Sample, assign_keys, sample_kind,
                             check_sources, expand_directories, max_shape, npy_rows, parse_dtype, reading,
                             release_pages, rows_block, suffix_of)
from ..api.importers_csv import csv_rows, line_of_row
from ..api.importers_stacked import pair_stacked


# -- add ------------------------------------------------------------------------------
@contextmanager
def staged_or_nothing(repo: Repository, branch: Optional[str]) -> Iterator[Any]:
    """A write checkout whose changes reach the staging area only if the block succeeds: on
    any error (or Ctrl-C) the checkout is dropped unflushed, at once, and the staging area is
    put back as it was."""
    co = repo.checkout(write=True, branch=branch or "")
    staging = repo.ctx.staging
    before = staging.ref()
    try:
        yield co
    except BaseException:
        try:
            co.discard()
        finally:
            staging.restore(before)
        raise
    try:
        co.close()  # (persists the staging area)
    except BaseException:
        staging.restore(before)
        raise


def parse_shape(text: Optional[str]) -> Optional[tuple[int, ...]]:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a shape such as 3,64", param_hint="--shape") from None
    if any(s < 0 for s in shape):
        raise click.BadParameter(f"{text!r} has a negative dimension", param_hint="--shape")
    return shape


def open_column(co: Any, name: str, importer: Importer, shape: Optional[tuple[int, ...]],
                variable_shape: bool) -> tuple[Any, Iterable[Sample]]:
    """The column to fill (created from the first sample if it does not exist: an ndarray, str
    or bytes column as the sample is) and the samples still to stage."""
    samples: Iterable[Sample] = iter(importer)
    if name in co.columns:
        col = co.columns[name]
        importer.options = replace(importer.options, column_dtype=column_dtype(col))
        first = next(iter(samples), None)
        if first is None:
            return col, ()
        existing_column(col, shape, variable_shape, sample_kind(first.value))
        return col, itertools.chain([first], samples)
    first = next(iter(samples), None)
    if first is None:
        raise ImportFormatError(f"the files hold no samples: column {name!r} was not created")
    samples = itertools.chain([first], samples)
    if isinstance(first.value, (str, bytes)):
        add = co.add_str_column if isinstance(first.value, str) else co.add_bytes_column
        return add(name), samples
    if shape is None and variable_shape:
        shape = max_shape(Importer(importer.paths, importer.options))
    col = co.add_ndarray_column(name, shape=first.value.shape if shape is None else shape,
                                dtype=first.value.dtype, variable_shape=variable_shape)
    importer.options = replace(importer.options, column_dtype=col.dtype)
    return col, samples


def existing_column(col: Any, shape: Optional[tuple[int, ...]], variable_shape: bool, kind: str = "ndarray") -> Any:
    """``col``, checked to take samples of ``kind`` (and ``shape``)."""
    if col.column_type != kind:
        raise SchemaError(f"column {col.name!r} holds {col.column_type} samples, not {kind}: `git hangar add` "
                          f"imports arrays into ndarray columns, .txt files (or a CSV with --dtype str) into str "
                          f"columns and .bin files into bytes columns", expected=col.column_type, given=kind)
    if kind != "ndarray":
        return col
    if shape is not None and tuple(shape) != tuple(col.shape):
        raise SchemaError(f"column {col.name!r} exists with shape {col.shape}, not {shape}",
                          expected=col.shape, given=shape)
    if variable_shape and not col.schema.variable_shape:
        raise SchemaError(f"column {col.name!r} exists with a fixed shape {col.shape}",
                          expected="fixed shape", given="variable shape")
    return col


def with_where(exc: Exception, where: str, col: Any = None, created: bool = False) -> Exception:
    """The same error, its message prefixed by where the sample came from (and, for a sample
    of another shape than ``col``'s, followed by what to do: see :func:`shape_hint`)."""
    if isinstance(exc, SchemaError):
        hint = shape_hint(exc, col, created) if col is not None else ""
        return SchemaError(f"{where}: {exc}{hint}", expected=exc.expected, given=exc.given)
    return type(exc)(f"{where}: {exc}")


def shape_hint(exc: SchemaError, col: Any, created: bool) -> str:
    """For a sample whose shape a fixed-shape column refuses (one of as many dimensions): how to
    get a column that takes several shapes (``created``: this command made ``col``)."""
    expected, given = exc.expected, exc.given
    if col.column_type != "ndarray" or col.schema.variable_shape or not isinstance(expected, tuple) \
            or not isinstance(given, tuple) or len(expected) != len(given):
        return ""
    if created:
        return (f": this command created the column with its first sample's shape; add again with --variable-shape "
                f"to make column {col.name!r} take every shape up to the largest")
    return (f"; column {col.name!r} has a fixed shape: to hold samples of several shapes, create a column with "
            f"--variable-shape")


def check_rows_shape(col: Any, shape: tuple[int, ...], path: str) -> None:
    """--rows: the rows (along axis 0) of the array of shape ``shape`` in ``path`` must be
    samples ``col`` takes (1-D arrays give scalar rows: samples of shape ())."""
    if col.column_type != "ndarray" or not shape:
        return
    row, want = tuple(shape[1:]), tuple(col.shape)
    if row == want or (
            col.schema.variable_shape and len(row) == len(want) and all(r <= w for r, w in zip(row, want))):
        return
    takes = f"shape up to {want}" if col.schema.variable_shape else f"shape {want}"
    needs = "(" + ", ".join(["N", *map(str, want)]) + ("," if not want else "") + ")"
    raise SchemaError(f"{path} holds an array of shape {tuple(shape)}: --rows makes its rows (along axis 0) samples "
                      f"of shape {row}, but column {col.name!r} takes samples of {takes}: --rows needs an array of "
                      f"shape {needs}", expected=want, given=row)


def check_rows_of_files(col: Any, paths: Iterable[str]) -> None:
    """:func:`check_rows_shape` for each .npy file of a --rows import (read: its header only)."""
    import numpy as np
    for path in paths:
        if suffix_of(path) == ".npy":
            with reading(path, ".npy"):
                shape = np.lib.format.open_memmap(path, mode="r").shape
            check_rows_shape(col, shape, path)


def stage(col: Any, keyed: Iterable[tuple[Key, Sample]], bar: Any, created: bool = False) -> tuple[int, int]:
    """Stage the samples; returns (how many were read, how many changed the staging area)."""
    count = changed = 0
    with col:
        for key, sample in keyed:
            try:
                changed += col.put(key, sample.value)
            except (SchemaError, InvalidNameError) as exc:
                raise with_where(exc, sample.where, col, created) from None
            count += 1
            bar.update(1)
    return count, changed


@click.command()
@click.argument("column", shell_complete=complete_columns)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True))
@click.option("--key-from", type=click.Choice(KEY_FROM), default="auto", show_default=True,
              help="Keys: auto = CSV key column, else row index for rows, else file stem / "
                   ".npz member name; name = stem (stem:row for rows); index = 0, 1, 2, ... "
                   "across all files; row = row index.")
@click.option("--start", type=int, default=0, show_default=True,
              help="First key of --key-from index.")
@click.option("--rows", is_flag=True, help=".npy: import each row of the array as a sample.")
@click.option("--dtype", help="CSV: parse values as this numpy dtype (default: the column's, "
                              "else int64 or float64); other files: cast to it.")
@click.option("--key-column", metavar="INDEX|NAME",
              help="CSV: the field holding each row's key (0-based, or a name with --header).")
@click.option("--header", is_flag=True, help="CSV: the first row names the fields; a first field named "
                                               "'key' (as `export` writes) holds the keys.")
@click.option("--delimiter", default=",", show_default=True, help="CSV field delimiter ('\\t' for a tab).")
@click.option("--variable-shape", is_flag=True,
              help="New column: samples may have any shape up to --shape (default: the "
                   "largest of the imported samples).")
@click.option("--shape", metavar="DIMS", help="New column: sample shape (maximum with "
                                              "--variable-shape), e.g. 3,64.")
@click.option("-b", "--branch", shell_complete=complete_local_branches,
              help="Write branch to stage on (default: the current one; "
                                     "it becomes the write branch).")
@pass_state
def add(state: State, column: str, files: tuple[str, ...], key_from: str, start: int,
        rows: bool, dtype: Optional[str], key_column: Optional[str], header: bool,
        delimiter: str, variable_shape: bool, shape: Optional[str], branch: Optional[str]) -> None:
    """Import FILES into COLUMN of the staging area.

    Reads .npy (one sample per file, or per row with --rows), .npz (one per
    array), .csv (one 1-D sample per row; with --dtype str one str sample per
    row), images (.png, .jpg, ...; needs Pillow), and .txt / .bin (the whole
    file is one str / bytes sample, as `export` writes them). A directory
    stands for the files in it of those types, sorted by name (its
    subdirectories are not read). A stacked export (NAME.npy and NAME.keys.txt,
    both given or in a given directory) is its rows under its keys. The column is
    created from the first sample
    if it does not exist. Nothing is committed: run `git hangar commit -m MESSAGE` next. If
    any sample fails, nothing of this command is staged.
    """
    if key_column is not None and key_from != "auto":
        raise click.UsageError("--key-column gives the keys: do not combine it with --key-from")
    delimiter = "\t" if delimiter == "\\t" else delimiter
    if len(delimiter) != 1:
        raise click.BadParameter("must be one character", param_hint="--delimiter")
    options = ImportOptions(rows=rows, dtype=parse_dtype(dtype), key_column=key_column,
                            header=header, delimiter=delimiter)
    max_dims = parse_shape(shape)
    repo = state.repo
    if repo.ctx.git.is_bare:
        raise click.ClickException("cannot add in a bare repository: it has no write branch to stage on (as git "
                                   "refuses `git add` there); clone it (`git hangar clone ADDRESS DIR`) and add "
                                   "in the clone")
    paired, stacked = pair_stacked(expand_directories(files))
    files = tuple(paired)
    options = replace(options, stacked=stacked)
    check_sources(files)
    array = npy_rows(files, options, key_from, variable_shape)
    with staged_or_nothing(repo, branch) as co:
        if array is None:  # a CSV file keyed by row: parsed at once when numpy can
            array = csv_rows(files, replace(options, column_dtype=ndarray_dtype(co, column)), key_from,
                             variable_shape)
        if array is not None:
            with state.progress(f"add {column}", total=len(array)) as bar:
                count, changed = stage_rows(co, column, array, options, max_dims, start if key_from == "index" else 0,
                                            bar, files[0])
        else:
            importer = Importer(files, options)
            created = column not in co.columns
            col, samples = open_column(co, column, importer, max_dims, variable_shape)
            if rows:
                check_rows_of_files(col, files)
            with state.progress(f"add {column}", total=count_samples(files, options)) as bar:
                count, changed = stage(col, assign_keys(samples, key_from, start), bar, created)
                if bar.total != count:  # (a CSV field quoted across lines): the bar still ends at its total
                    bar.total = count
                    bar.refresh()
        target = co.branch_name
    report_added(state, column, target, count, changed)


def report_added(state: State, column: str, target: str, count: int, changed: int) -> None:
    if not changed:
        state.say(f"Nothing to stage: all {count} sample(s) are already in column {column!r} on {target!r} "
                  f"as given")
        return
    same = f" ({count - changed} already there as given)" if changed < count else ""
    state.say(f"Staged {changed} sample(s) in column {column!r} on {target!r}{same}; record them with "
              f"`git hangar commit -m MESSAGE`")


def ndarray_dtype(co: Any, column: str) -> Any:
    """What CSV values for ``column`` are parsed as: its dtype if it exists (str for a str
    column), else None."""
    return column_dtype(co.columns[column]) if column in co.columns else None


def column_dtype(col: Any) -> Any:
    """The dtype CSV values for ``col`` are parsed as (None for a bytes column: none)."""
    import numpy as np
    return col.dtype if col.column_type == "ndarray" else np.dtype(str) if col.column_type == "str" else None


def stage_rows(co: Any, column: str, array: Any, options: ImportOptions, shape: Optional[tuple[int, ...]],
               first_key: int, bar: Any, source: str) -> tuple[int, int]:
    """Stage the rows of ``array`` (keys ``first_key``, ``first_key + 1``, ...; read from the
    file ``source``) a block at a time; returns (how many were read, how many changed the
    staging area)."""
    import numpy as np

    from ..heap import release_freed
    dtype = options.dtype or array.dtype
    created = column not in co.columns
    if not created:
        col = existing_column(co.columns[column], shape, False)
    else:
        col = co.add_ndarray_column(column, shape=array.shape[1:] if shape is None else shape, dtype=dtype)
    csv = suffix_of(source) == ".csv"
    if not csv:
        check_rows_shape(col, array.shape, source)
    changed = 0
    for lo in range(0, len(array), ROWS_BLOCK):
        block = rows_block(array, lo, lo + ROWS_BLOCK, options.dtype)
        try:
            changed += col.put_rows(np.arange(first_key + lo, first_key + lo + len(block)), block)
        except (SchemaError, InvalidNameError) as exc:
            where = line_of_row(source, options, lo) if csv else f"{source} rows {lo}-{lo + len(block) - 1}"
            raise with_where(exc, where, col, created) from None
        release_freed()  # the block's digests and packs are done with: their heap goes back
        release_pages(array)
        bar.update(len(block))
    return len(array), changed


def refuse_staged_only(repo: Repository, column: str, branch: str) -> None:
    """Export reads commits: a column only in the staging area of ``branch`` is named as such."""
    if repo.ctx.git.is_bare or column not in repo.status(branch).columns_added:
        return
    raise ColumnNotFoundError(column, f"on branch {branch!r} yet: it is only in the staging area; "
                                      f"export reads commits, so record it first (`git hangar commit -m MESSAGE`)")


# -- export ---------------------------------------------------------------------------
@click.command()
@click.argument("column", shell_complete=complete_columns)
@click.argument("out_dir", type=click.Path(file_okay=False))
@click.option("--branch", shell_complete=complete_branches,
              help="Export from the head of this branch (default: the write branch).")
@click.option("--commit", help="Export from this commit.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="npy", show_default=True,
              help="npy: a <key>.npy per sample (.txt/.bin for str/bytes); npz: one <column>.npz; "
                   "stacked: one <column>.npy of shape (N, ...) plus <column>.keys.txt; csv: one "
                   "<column>.csv with a header and a row per 1-D (or str) sample. Keys that could be "
                   "read as ints are written quoted ('1'), so 1 and '1' stay apart.")
@click.option("--keys/--no-keys", default=True, show_default=True,
              help="csv: write each row's key as its first field.")
@click.option("--header/--no-header", default=True, show_default=True,
              help="csv: a first line naming the fields (import it back with `add --header`).")
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.option("--stream-from", "stream_from", metavar="REMOTE",
              help="Read samples whose data is not here from REMOTE (nothing is fetched into the store).")
@pass_state
def export(state: State, column: str, out_dir: str, branch: Optional[str], commit: Optional[str],
           fmt: str, keys: bool, header: bool, force: bool, stream_from: Optional[str]) -> None:
    """Write the samples of COLUMN to files in OUT_DIR (created if needed)."""
    if branch and commit:
        raise click.UsageError("give --branch or --commit, not both")
    repo = state.repo
    with without_missing_data_warning(repo.checkout)(branch=branch or "", commit=commit or "",
                                                     stream_from=stream_from or "") as co:
        if column not in co.columns and not commit:
            refuse_staged_only(repo, column, branch or repo.ctx.default_branch)
        col = co.columns[column]
        if not stream_from and col.contains_remote_references:  # the other columns are not read
            shown = revision_words(branch or ("" if commit else repo.ctx.default_branch), commit or "")
            warn_remote_references(repo.ctx, [column], shown, [column] if col.has_damaged_samples else [])
        with state.progress(f"export {column}", total=len(col)) as bar:
            count = export_column(col, out_dir, fmt, force=force, keys=keys, header=header, progress=bar.update)
    state.say(f"Exported {count} sample(s) of column {column!r} to {out_dir}")


COMMANDS = [add, export]
