"""Sample data straight from one store into another (a repository's store and an S3 prefix).

The same two halves as a push to a hangar server, joined in one process:
:func:`~.datastream.send_data` reads batches (and objects too big for one
batch in parts) from the source, :func:`~.datastream.receive_frames`
verifies every object against its digest and keeps it in the target, a
verified batch at a time. A bounded queue between them lets reading,
hashing and writing overlap without holding more than a few batches.
"""
from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Iterator, Optional, Sequence

import numpy as np

from ..storage import ObjectStore
from .datastream import Described, receive_frames, send_data
from .framing import Frame

QUEUE_FRAMES = 4
_END = object()


class _QueueStream:
    """What :func:`send_data` writes to: frames into a queue, payload parts joined."""

    def __init__(self, frames: "queue.Queue[Any]", stop: threading.Event) -> None:
        self.frames, self.stop = frames, stop

    def send(self, kind: str, header: dict[str, Any], payload: Any = b"") -> None:
        data = b"".join(payload) if isinstance(payload, list) else payload
        while not self.stop.is_set():
            try:
                self.frames.put(Frame(kind, header, data), timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped()


class _Stopped(Exception):
    """The receiving side gave up: the sender stops quietly."""


def copy_objects(source: ObjectStore, target: ObjectStore, digests: Sequence[str] | np.ndarray, *,
                 progress: Optional[Any] = None, fault: str = "", kept_fault: str = "",
                 on_stored: Callable[[Frame], None] = lambda frame: None,
                 described: Optional[Described] = None) -> int:
    """Copy ``digests`` (hex, or raw as an ``S32`` array; all in ``source``) into ``target``,
    each verified before it is kept; returns how many objects were kept. ``fault`` names the
    kill point passed after each batch is read, ``kept_fault`` the one passed as each is kept
    (:mod:`hangar_git.faults`); ``described`` is what ``source.describe_raws`` answered."""
    if not len(digests):
        return 0
    frames: "queue.Queue[Any]" = queue.Queue(QUEUE_FRAMES)
    stop = threading.Event()
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            send_data(source, _QueueStream(frames, stop), digests, progress=progress, fault=fault, parts=True,
                      described=described)
        except _Stopped:
            return
        except BaseException as exc:  # handed to the receiving thread, raised there
            failure.append(exc)
        while not stop.is_set():
            try:
                frames.put(_END, timeout=0.1)
                return
            except queue.Full:
                continue

    def consume() -> Iterator[Frame]:
        while True:
            item = frames.get()
            if item is _END:
                if failure:
                    raise failure[0]
                return
            yield item

    sender = threading.Thread(target=produce, name="hangar-copy-read", daemon=True)
    sender.start()
    try:
        return receive_frames(target, consume(), on_stored, fault=kept_fault)
    finally:
        stop.set()
        sender.join()
