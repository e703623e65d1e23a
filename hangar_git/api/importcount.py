"""How many samples an import of files will stage, known before it starts (what `git hangar
add`'s progress bar counts to), read from headers and line counts, not by parsing the data."""
from __future__ import annotations

import zipfile
from typing import Sequence

import numpy as np

from .importers import IMAGE_SUFFIXES, TEXT_SUFFIXES, ImportOptions, reading, suffix_of


def count_samples(paths: Sequence[str], options: ImportOptions) -> int:
    """The samples the files hold as :class:`~.importers.Importer` reads them: a .npy is one
    sample (its rows with ``rows``), a .npz one per member, a CSV one per non-blank line (less
    the header), an image one per frame. Exact but for CSV fields quoted across lines."""
    return sum(count_file(path, options) for path in paths)


def count_file(path: str, options: ImportOptions) -> int:
    suffix = suffix_of(path)
    if suffix == ".npy":
        if path in options.stacked:
            from .importers_stacked import stacked_keys
            return len(stacked_keys(path))
        if not options.rows:
            return 1
        with reading(path, ".npy"):
            array = np.lib.format.open_memmap(path, mode="r")
            return int(array.shape[0]) if array.ndim else 0
    if suffix == ".npz":
        with reading(path, ".npz"), zipfile.ZipFile(path) as archive:
            return len(archive.namelist())
    if suffix == ".csv":
        with reading(path, "CSV"), open(path, "rb") as fh:
            lines = sum(1 for line in fh if line.strip())
        return max(lines - 1, 0) if options.header else lines
    if suffix in IMAGE_SUFFIXES:
        return image_frames(path)
    return 1 if suffix in TEXT_SUFFIXES else 0


def image_frames(path: str) -> int:
    """Frames of an image (1 unless animated); 1 when Pillow cannot say (the import says why)."""
    try:
        from PIL import Image
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except Exception:  # no Pillow, or an unreadable file: the import itself reports it
        return 1
