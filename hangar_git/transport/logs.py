"""The transport's loggers, made on first use: importing :mod:`logging` costs a tenth of
``git-hangar serve``'s start-up, and a request that goes well logs nothing."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

_PACKAGE = __name__.rpartition(".")[0]
_quiet = False


def logger(name: str) -> "logging.Logger":
    """``logging.getLogger(name)``; the transport package's logger gets a NullHandler first,
    so that a library user who configured no logging sees nothing (a served client's
    stderr is the SSH channel)."""
    import logging
    global _quiet
    if not _quiet:
        logging.getLogger(_PACKAGE).addHandler(logging.NullHandler())
        _quiet = True
    return logging.getLogger(name)
