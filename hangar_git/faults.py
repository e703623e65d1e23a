"""Kill points for fault-injection tests.

``checkpoint(name)`` does nothing unless the environment variable
``HANGAR_FAULT`` was set when this module was imported:

* ``HANGAR_FAULT=name`` kills this process (SIGKILL, no cleanup, no
  ``finally``) the first time it reaches ``checkpoint(name)``;
* ``HANGAR_FAULT=name:N`` kills it the N-th time.

``HANGAR_FAULT_SIGNAL=INT`` (or ``TERM``) sends that signal instead of
SIGKILL, so a test interrupts the process at an exact point and the process
handles it as it would a user's Ctrl-C (or a service manager's stop).

When ``HANGAR_FAULT_LOG`` names a file, a line ``name pid`` is appended to
it just before the kill, so a test can tell that the point was reached.

The points are listed in :data:`CHECKPOINTS` (tests parametrise over it);
each sits between two steps whose order makes a crash there harmless.
"""
from __future__ import annotations

import os
import signal
from typing import Optional

CHECKPOINTS: tuple[str, ...] = (
    # storage/tiledb_store.py
    "store.flush.after_log",             # byte-log fragment written, pack index not yet
    "store.flush.after_index",           # pack index published, pending objects not yet cleared
    "store.large.before_move",           # large object in tmp/, not yet moved to large/
    "store.batch.verified",              # a received batch verified (large ones in tmp/), nothing kept
    # api/checkout.py
    "staging.before_ref",                # staging trees and commit written, staging ref not moved
    "commit.before_branch_ref",          # commit object written, branch ref not moved
    "commit.before_staging_drop",        # branch ref moved, staging ref not yet dropped
    # transport/push.py (client: records and data, the larger last, then the ref update;
    # transport/gitremote.py passes the data points: data to the bucket, then the branch on the
    # git host)
    "push.after_records",                # git objects sent to a hangar server (data maybe not yet)
    "push.between_data_frames",          # some data frames sent, not all
    "push.after_data",                   # all data sent (git objects maybe not yet)
    "push.before_update_ref",            # objects and data sent, update_ref not asked
    # transport/service.py (server; its get_data passes the fault name to datastream.send_data)
    "serve.update_ref.before_set_ref",   # push checked, branch ref not moved
    "serve.get_data.between_frames",     # the server sent some data frames of a get_data
    # transport/fetch.py, transport/fetch_data.py (client)
    "fetch.between_object_frames",       # some git objects stored, tracking ref not set
    "fetch_data.between_frames",         # some data frames stored, not all
)

_SPEC: Optional[tuple[str, int]] = None
_LOG: Optional[str] = None
_SIGNAL = getattr(signal, f"SIG{os.environ.get('HANGAR_FAULT_SIGNAL', 'KILL')}", signal.SIGKILL)
_hits: dict[str, int] = {}


def configure(value: Optional[str], log: Optional[str] = None) -> None:
    """Arm (or with None disarm) the kill point ``name`` or ``name:N``."""
    global _SPEC, _LOG
    _hits.clear()
    _LOG = log
    if not value:
        _SPEC = None
        return
    name, _, count = value.rpartition(":")
    if name and count.isdigit():
        _SPEC = (name, max(1, int(count)))
    else:
        _SPEC = (value, 1)


def checkpoint(name: str) -> None:
    """Die here (SIGKILL) if this is the armed kill point; otherwise return at once."""
    if _SPEC is None or _SPEC[0] != name:
        return
    _hits[name] = n = _hits.get(name, 0) + 1
    if n == _SPEC[1]:
        _die(name)


def _die(name: str) -> None:
    if _LOG:
        with open(_LOG, "a") as fh:
            fh.write(f"{name} {os.getpid()}\n")
    os.kill(os.getpid(), _SIGNAL)


configure(os.environ.get("HANGAR_FAULT"), os.environ.get("HANGAR_FAULT_LOG"))
