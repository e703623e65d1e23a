"""How a streaming source waits on its remote, never longer than its stream timeout: the
connection opened on a thread of its own (:class:`Opening`), and the watchdog that hangs up on a
request the remote stopped answering (:class:`Watchdog`)."""
from __future__ import annotations

import threading
import time
from typing import Callable, Generic, Optional, TypeVar

from ..forks import unforked

T = TypeVar("T")


class Opening(Generic[T]):
    """One connection being opened (``connect()``) on a thread of its own, which a fork waits for
    (:func:`~hangar_git.forks.unforked`: a child must not inherit half an import or a key
    exchange); whoever needs it waits until ``seconds`` after it began, no longer."""

    def __init__(self, connect: Callable[[], T], seconds: float, close: Callable[[T], None]) -> None:
        self.deadline = time.monotonic() + seconds
        self._connect, self._seconds, self._close = connect, seconds, close
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._value: Optional[T] = None
        self._error: Optional[BaseException] = None
        self._abandoned = False
        self.thread = threading.Thread(target=self._run, name="hangar-stream-connect", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            with unforked(self._seconds):
                value = self._connect()
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits for the connection
            self._error = exc
        else:
            with self._lock:
                late = self._abandoned
                self._value = None if late else value
            if late:  # nobody will use it: hang up
                self._close(value)
        finally:
            self._done.set()

    @property
    def pending(self) -> bool:
        """Whether it is still being opened, within its time."""
        return not self._done.is_set() and time.monotonic() < self.deadline

    @property
    def opened(self) -> bool:
        """Whether it is open (and not abandoned)."""
        return self._done.is_set() and self._value is not None

    def result(self) -> Optional[T]:
        """The connection, once open (what opening it raised is raised); None if it is not open by
        the deadline."""
        if not self._done.wait(max(self.deadline - time.monotonic(), 0.0)):
            return None
        if self._error is not None:
            raise self._error
        return self._value

    def abandon(self) -> None:
        """Nobody waits for it any more: a connection that opens later is closed at once."""
        with self._lock:
            self._abandoned = True
            value, self._value = self._value, None
        if value is not None:
            self._close(value)


class Watchdog:
    """Calls its armed action once nothing beat for ``seconds`` while armed (one thread, lazily)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = False
        self._action: Optional[Callable[[], None]] = None
        self._last = 0.0
        self._cond = threading.Condition()
        self._thread: Optional[threading.Thread] = None

    def arm(self, action: Callable[[], None]) -> None:
        with self._cond:
            self._action, self._last, self.fired = action, time.monotonic(), False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="hangar-stream-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def beat(self) -> None:
        self._last = time.monotonic()

    def disarm(self) -> None:
        with self._cond:
            self._action = None

    def _run(self) -> None:
        with self._cond:
            while True:
                if self._action is None:
                    self._cond.wait()
                    continue
                left = self._last + self.seconds - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                action, self._action, self.fired = self._action, None, True
                self._cond.release()
                try:
                    action()
                finally:
                    self._cond.acquire()


__all__ = ["Opening", "Watchdog"]
