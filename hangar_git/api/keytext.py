"""Sample keys as text (file names, npz members, CSV fields) without losing their type.

An int key is its decimal digits; a str key is itself, unless it would read
back as an int or starts with a quote: then it is quoted (``'1'``). So keys
``1`` and ``'1'`` stay two keys through export and import.
"""
from __future__ import annotations

import re
from typing import Union

Key = Union[int, str]
KEY_FIELD = "key"
"""The CSV header field of the keys: export writes it first; import with a header takes a
first field of this name as the key column."""
KEYS_SUFFIX = ".keys.txt"
"""A stacked export's keys file: ``<column>.keys.txt`` beside ``<column>.npy``, a key per line."""
_INT = re.compile(r"[+-]?[0-9]+")


def key_to_text(key: Key) -> str:
    if type(key) is int:
        return str(key)
    text = str(key)
    if _INT.fullmatch(text) or text.startswith("'"):
        return f"'{text}'"
    return text


def key_from_text(text: str) -> Key:
    if _INT.fullmatch(text):
        return int(text)
    if len(text) >= 2 and text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    return text
