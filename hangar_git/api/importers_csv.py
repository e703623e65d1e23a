"""CSV files behind `git hangar add` (see :mod:`.importers`): each non-blank row is a 1-D
sample. A single CSV file keyed by row is parsed at once by :func:`csv_rows` (numpy's C
parser, strict): what it cannot parse exactly the way :func:`read_csv` does is left to
:func:`read_csv`, row by row, which names the bad value. Messages name a place in a file
as an editor does: ``PATH line N``, lines counted from 1 (the header and blank lines too).
"""
from __future__ import annotations

import csv
import re
import warnings
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from ..errors import ImportFormatError
from .importers import ImportOptions, Key, Sample, reading, stem_of, suffix_of
from .keytext import KEY_FIELD, key_from_text

_INT_RE = re.compile(r"[+-]?\d+")


def csv_rows(paths: Sequence[str], options: ImportOptions, key_from: str, variable_shape: bool) -> Optional[np.ndarray]:
    """The rows of the one CSV file of an import keyed by row number (``key_from`` auto, row
    or index, no key column) as one 2-D array, parsed as :func:`read_csv` would parse them;
    None when the import is of another kind or the fast parser refuses a value (the rows are
    then read one by one, and a bad value is named with its row)."""
    if len(paths) != 1 or suffix_of(paths[0]) != ".csv" or options.key_column is not None or variable_shape \
            or key_from not in ("auto", "row", "index") or options.delimiter.isspace() or options.delimiter == '"':
        return None
    path = paths[0]
    with reading(path, "CSV"), open(path, encoding="utf-8", newline="") as fh:
        if options.header:
            header = fh.readline().strip("\r\n")
            if not header or header.split(options.delimiter)[0].strip('"') == KEY_FIELD:
                return None  # a blank line before the header, or a key column: csv.reader's way only
        given = options.dtype or options.column_dtype
        if given is not None and is_text(given):
            return None  # str samples: one field per row, read by read_csv
        dtypes = [given] if given is not None else [np.dtype(np.int64), np.dtype(np.float64)]  # as infer_dtype
        start = fh.tell()
        for dtype in dtypes:
            fh.seek(start)
            rows = _loadtxt(fh, options.delimiter, dtype)
            if rows is not None:
                return rows if len(rows) else None
    return None


def _loadtxt(fh: object, delimiter: str, dtype: np.dtype) -> Optional[np.ndarray]:
    """``numpy.loadtxt`` of the rest of ``fh``, None where it refuses a value or warns
    (e.g. an integer written as a float)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            return np.loadtxt(fh, delimiter=delimiter, dtype=dtype, comments=None, ndmin=2,  # type: ignore[call-overload]
                              quotechar=None, encoding="utf-8")
    except (ValueError, OverflowError, TypeError, Warning):
        return None


def read_csv(path: str, options: ImportOptions) -> Iterator[Sample]:
    with reading(path, "CSV"):
        rows, lines = csv_records(path, options.delimiter)
        header = rows.pop(0) if options.header and rows else None
        if header is not None:
            lines.pop(0)
        places = [f"{path} line {n}" for n in lines]
        key_column = options.key_column
        if key_column is None and header and header[0] == KEY_FIELD:
            key_column = KEY_FIELD  # as `git hangar export` writes keys
        keys = pop_key_column(path, rows, key_column, header, places)
        dtype = options.dtype or options.column_dtype or infer_dtype(rows)
        values: Sequence[Union[np.ndarray, str]] = (text_rows(rows, places) if is_text(dtype) else
                                                    parse_rows(path, rows, dtype, header is not None, places,
                                                               options.delimiter))
    name = stem_of(path)
    for i, value in enumerate(values):
        yield Sample(name, value, places[i], row=i,
                     key=None if keys is None else parse_key(keys[i], places[i]))


def csv_records(path: str, delimiter: str) -> tuple[list[list[str]], list[int]]:
    """The non-blank records of a CSV file, and the line (from 1, as an editor numbers them)
    each starts on: a record may span lines (a quoted field holding a newline)."""
    rows: list[list[str]] = []
    lines: list[int] = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        start = 1
        try:
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(start)
                start = reader.line_num + 1
        except csv.Error as exc:
            raise ImportFormatError(f"{path} line {reader.line_num}: cannot read it as CSV: {exc}") from None
    return rows, lines


def line_of_row(path: str, options: ImportOptions, index: int) -> str:
    """Where row ``index`` (from 0, after the header) of a CSV file is, as :func:`read_csv`
    names it: ``"PATH line N"``."""
    _, lines = csv_records(path, options.delimiter)
    lines = lines[1:] if options.header else lines
    return f"{path} line {lines[index]}" if index < len(lines) else path


def pop_key_column(path: str, rows: list[list[str]], key_column: Optional[str],
                   header: Optional[list[str]], places: Sequence[str]) -> Optional[list[str]]:
    """Remove the key column from every row; returns its values."""
    if key_column is None:
        return None
    if header is not None and key_column in header:
        index = header.index(key_column)
    elif _INT_RE.fullmatch(key_column.strip()):
        index = int(key_column)
    else:
        raise ImportFormatError(f"cannot read {path!r}: no key column {key_column!r} "
                                f"(give a 0-based index, or a field name with --header)")
    keys = []
    for i, row in enumerate(rows):
        if not -len(row) <= index < len(row):
            raise ImportFormatError(f"{places[i]}: has no column {index} for the keys")
        keys.append(row.pop(index))
    return keys


def parse_key(text: str, where: str) -> Key:
    text = text.strip()
    if not text:
        raise ImportFormatError(f"{where}: the key column is empty")
    return key_from_text(text)


def infer_dtype(rows: list[list[str]]) -> np.dtype:
    """int64 if every value is an integer, else float64."""
    cells = np.array([c for row in rows for c in row], dtype=str)
    try:
        cells.astype(np.int64)
        return np.dtype(np.int64)
    except (ValueError, OverflowError):
        return np.dtype(np.float64)


def is_text(dtype: np.dtype) -> bool:
    """Whether CSV values parsed as ``dtype`` are str samples (``--dtype str``)."""
    return dtype.kind == "U"


def text_rows(rows: list[list[str]], places: Sequence[str]) -> list[str]:
    """Each row's one field, a str sample (a row of several fields is an error naming its place)."""
    for i, row in enumerate(rows):
        if len(row) != 1:
            raise ImportFormatError(f"{places[i]}: has {len(row)} fields: a str sample is one field "
                                    f"(quote a value holding the delimiter)")
    return [row[0] for row in rows]


DELIMITERS = {";": ";", "\t": "\\t", "|": "|", ",": ","}
"""The delimiters a value that fails to parse is checked for, and how --delimiter spells them."""


def other_delimiter(value: str, delimiter: str) -> Optional[str]:
    """The --delimiter spelling of a delimiter other than ``delimiter`` that ``value`` holds, if any."""
    return next((spelt for char, spelt in DELIMITERS.items() if char != delimiter and char in value), None)


def parse_rows(path: str, rows: list[list[str]], dtype: np.dtype, header: bool, places: Sequence[str],
               delimiter: str = ",") -> list[np.ndarray]:
    """The rows as 1-D arrays of ``dtype``; a bad value is reported at its place (and, on the
    first row of a file read without ``header``, with the hint that it may be a header; holding
    another delimiter, with the hint to pass it)."""
    if not rows:
        return []
    try:
        if len({len(row) for row in rows}) == 1:
            return list(np.array(rows, dtype=str).astype(dtype))
        return [np.array(row, dtype=str).astype(dtype) for row in rows]
    except (ValueError, OverflowError, TypeError):
        pass
    for i, row in enumerate(rows):
        for value in row:
            try:
                np.array([value], dtype=str).astype(dtype)
            except (ValueError, OverflowError, TypeError):
                spelt = other_delimiter(value, delimiter)
                if spelt is not None:
                    raise ImportFormatError(f"{places[i]}: cannot parse {value!r} as {dtype}: the fields seem "
                                            f"separated by {spelt!r}: pass --delimiter '{spelt}'") from None
                first = "pass --header if the first line names the fields, " if i == 0 and not header else ""
                raise ImportFormatError(
                    f"{places[i]}: cannot parse {value!r} as {dtype} ({first}--dtype str for text samples, "
                    f"--key-column for a column of names, or another --dtype)") from None
    raise ImportFormatError(f"cannot parse {path!r} as {dtype}")
