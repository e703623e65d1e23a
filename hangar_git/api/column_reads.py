"""Reading a column: lookups, iteration over a snapshot, batched multi-key reads."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence, Union

from ..bookkeeping.changes import StagedChanges
from ..bookkeeping.records import ColumnSchema, check_key, decode_key, encode_key
from ..bookkeeping.snapshot import ColumnRecords

from ..errors import IntegrityError, InvalidKeyError, MissingDataError, NotPicklableError, SampleNotFoundError
from ..storage import Digest
from .hints import fetch_data_hint, repair_hint, revision_words
from .columnpresence import ColumnPresence
from .intkeyreads import IntKeyReads
from .recordbatches import BATCH, State, large_batches, record_batches
from .streamstore import StreamingStore

if TYPE_CHECKING:
    from .session import CheckoutSession

Key = Union[str, int]
_MISSING = object()
STORE_BACKEND = "tiledb-vfs"
"""What ``col.backend`` reports: every column lives in the one content-addressed store."""


def enc(key: object) -> str:
    """Encoded form of a valid key (fast path for plain ints)."""
    if type(key) is int and -(1 << 63) <= key < (1 << 63):  # type: ignore[operator]
        return f"i{key}"
    return encode_key(check_key(key))


class ColumnReads(IntKeyReads, ColumnPresence):
    """Read side of a column; :class:`~.columns.Column` adds writes and value types."""

    column_type = ""

    def __init__(self, session: "CheckoutSession", name: str, schema: ColumnSchema,
                 records: Optional[ColumnRecords]) -> None:
        self._session = session
        self._name = name
        self._schema = schema
        self._recs: Optional[ColumnRecords] = None
        self._records = records
        self._changes = StagedChanges()
        self._count = records.count if records else 0
        self._locs: Any = None
        self._locs_of: Optional[ColumnRecords] = None

    @property
    def _records(self) -> Optional[ColumnRecords]:
        return self._recs

    @_records.setter
    def _records(self, records: Optional[ColumnRecords]) -> None:
        """Adopt a column's records; each shard read warms the store's lookups."""
        self._recs = records
        if records is not None:
            records.on_load = lambda shard: self._session.store.warm(shard.values())

    def __reduce__(self) -> tuple:
        """A column of a read checkout pickles as its checkout's names and its own; it
        reopens in the receiving process (see :mod:`.reopen`)."""
        from . import reopen
        session = self._session
        if session.is_writer:
            raise NotPicklableError(
                f"column {self._name!r} of a write checkout cannot be pickled (the writer lock "
                f"stays in its process): commit, then pass a column of repo.checkout() instead")
        session.check_open()
        co = session.owner
        return reopen.column, (session.ctx.git.git_dir, getattr(co, "commit_hash"), getattr(co, "branch_name"),
                               self._name, *getattr(co, "stream_args", ()))

    # -- description ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def column(self) -> str:
        """The column's name (Hangar's spelling)."""
        return self._name

    @property
    def column_layout(self) -> str:
        return self._schema.column_layout

    @property
    def schema_type(self) -> str:
        return self._schema.schema_type

    @property
    def backend(self) -> str:
        """The store every sample lives in; ``backend=`` selects nothing here."""
        return STORE_BACKEND

    @property
    def backend_options(self) -> dict:
        """Always empty: the store is configured per repository, not per column."""
        return {}

    @property
    def iswriteable(self) -> bool:
        return self._session.writable

    @property
    def contains_subsamples(self) -> bool:
        """Always False: columns are flat (keys such as 'sample-subsample' stand in for Hangar's nested ones)."""
        return False

    @property
    def schema(self) -> ColumnSchema:
        return self._schema

    @property
    def dtype(self) -> Any:
        return str if self.column_type == "str" else bytes

    @property
    def shape(self) -> Optional[tuple[int, ...]]:
        return None

    def __repr__(self) -> str:
        cls = "FlatSampleWriter" if self.iswriteable else "FlatSampleReader"
        rows = [("Column Name", self._name), ("Writeable", self.iswriteable),
                ("Column Type", self.column_type), ("Column Layout", self.column_layout),
                ("Schema Type", self.schema_type), ("DType", self._dtype_text()),
                ("Shape", self.shape), ("Number of Samples", len(self)),
                ("Partial Remote References", self.contains_remote_references)]
        return f"Hangar {cls}\n" + "".join(f"    {k:<26}: {v}\n" for k, v in rows)

    def _dtype_text(self) -> str:
        return str(self.dtype)

    def _decode(self, meta: str, data: memoryview) -> Any:
        raise NotImplementedError

    def _missing(self, key: Key, digest: str) -> Union[MissingDataError, IntegrityError]:
        """The error for a sample whose data is elsewhere (streaming: the remote lacks it too), or
        whose copy here was found damaged (absent to the store too, but not elsewhere)."""
        streamed = getattr(self._session.owner, "stream_from", "")
        if not streamed and self._session.ctx.store.damaged([Digest(digest)]):
            return self._damaged(key, digest, IntegrityError("its copy on this machine is damaged (it failed "
                                                             "its digest check)"))
        if streamed:
            return MissingDataError(self._name, key, digest, remote=streamed, on_remote=True)
        return MissingDataError(self._name, key, digest, hint=self.fetch_data_hint(("--column", self._name)))

    def fetch_data_hint(self, options: Sequence[str] = (), them: bool = False, stream: bool = False) -> str:
        """What to run to get this column's data that is not here (:func:`.hints.fetch_data_hint`
        for the branch or commit its checkout shows)."""
        return fetch_data_hint(self._session.ctx, self._revision(), options=options, them=them, stream=stream)

    def _revision(self) -> list[str]:
        owner = self._session.owner  # what fetch-data is to name: the branch, or --commit DIGEST
        return revision_words(getattr(owner, "branch_name", ""), getattr(owner, "commit_hash", ""))

    def _damaged(self, key: Key, digest: str, exc: IntegrityError) -> IntegrityError:
        again = repair_hint(self._session.ctx, digest, self._revision(), ("--column", self._name))
        return IntegrityError(f"sample {key!r} of column {self._name!r} (object {digest}) cannot be "
                              f"read: {exc}{again}", expected=digest)

    # -- single lookups ---------------------------------------------------------
    def _digest(self, e: str, warm: bool = True) -> Optional[str]:
        digest = self._changes.get(e, _MISSING)
        if digest is _MISSING:
            return self._records.get(e, warm) if self._records is not None else None
        return digest  # type: ignore[return-value]

    def __getitem__(self, key: Key) -> Any:
        session = self._session
        if session.closed:
            session.check_open()
        recs = self._recs
        if type(key) is int and recs is not None and not self._changes:
            return self._read_int(recs, key)
        digest = self._digest(f"i{key}" if type(key) is int else enc(key))
        if digest is None:
            enc(key)  # an out-of-range int is an invalid key, not an absent one
            raise SampleNotFoundError(self._name, key)
        try:
            meta, data = session.store.read(digest)  # type: ignore[arg-type]
        except KeyError:
            raise self._missing(key, digest) from None
        except IntegrityError as exc:
            raise self._damaged(key, digest, exc) from exc
        return self._decode(meta, data)

    def get(self, key: Any, default: Any = None) -> Any:
        """The sample at ``key``, or ``default`` if there is none or ``key`` is not a valid key
        (data recorded here but not on this machine raises MissingDataError)."""
        try:
            return self[key]
        except (SampleNotFoundError, InvalidKeyError):
            return default

    def get_many(self, keys: Sequence[Key], default: Any = None, *,
                 except_missing: bool = False) -> list[Any]:
        """Samples of ``keys`` in order, read from the store in one batch; ``default`` for
        absent keys unless ``except_missing`` (then SampleNotFoundError, a KeyError)."""
        return read_samples([(self, k) for k in keys], default, except_missing=except_missing)

    def __contains__(self, key: object) -> bool:
        try:
            return self._digest(enc(key)) is not None
        except Exception as exc:  # invalid keys are simply not present; damaged records are not absent
            if isinstance(exc, IntegrityError):
                raise
            return False

    def __len__(self) -> int:
        return self._count

    # -- iteration over the state at the start of the loop ----------------------
    def _state(self) -> State:
        """The records and a copy of the staged changes: later writes do not reach a
        running iteration, as with ``list(d.keys())`` of a dict."""
        self._session.check_open()
        return self._records, self._changes.copy()

    def __iter__(self) -> Iterator[Key]:
        return self.keys()

    def keys(self, local: bool = False) -> Iterator[Key]:
        """Sample keys (``local=True``: only those whose data is on this machine)."""
        return self._keys(self._state(), local)

    def _keys(self, state: State, local: bool) -> Iterator[Key]:
        if not local:
            for encs, _ in record_batches(state):
                yield from map(decode_key, encs)
            return
        for encs, digests, missing in self._batches_with_missing(state):
            for e, digest in zip(encs, digests):
                if digest not in missing:
                    yield decode_key(e)

    def _batches_with_missing(self, state: State, reading: bool = False,
                              on_disk: bool = False) -> Iterator[tuple[list[str], list[str], set[str]]]:
        """Records in batches (staged changes applied), each with its digests whose data cannot be
        read here (``on_disk``: is not in this machine's store); ``reading``: the caller reads
        them all, in order (a streaming store fetches ahead)."""
        store = self._session.store
        if on_disk and isinstance(store, StreamingStore):
            store = store.local
        batches = large_batches(state, BATCH)
        for encs, digests in store.read_ahead(batches, lambda batch: batch[1]) if reading else batches:
            yield encs, digests, set(store.missing(digests))  # type: ignore[arg-type]

    def items(self, local: bool = False) -> Iterator[tuple[Key, Any]]:
        """(key, value) pairs, reading storage in large batches."""
        return self._items(self._state(), local)

    def _items(self, state: State, local: bool) -> Iterator[tuple[Key, Any]]:
        store = self._session.store
        for encs, digests, missing in self._batches_with_missing(state, reading=True):
            if missing and not local:
                i = next(i for i, d in enumerate(digests) if d in missing)
                raise self._missing(decode_key(encs[i]), digests[i])
            present = [(e, d) for e, d in zip(encs, digests) if d not in missing]
            try:
                for (e, _), (_, meta, data) in zip(present, store.read_many([Digest(d) for _, d in present])):
                    yield decode_key(e), self._decode(meta, data)
            except KeyError as exc:  # a streaming store: the remote does not hold it
                if not exc.args or exc.args[0] not in digests:
                    raise
                raise self._missing(decode_key(encs[digests.index(exc.args[0])]), exc.args[0]) from None

    def values(self, local: bool = False) -> Iterator[Any]:
        return (value for _, value in self.items(local=local))


def read_samples(pairs: Sequence[tuple[ColumnReads, Any]], default: Any = None, *,
                 except_missing: bool = False) -> list[Any]:
    """Samples of (column, key) pairs in order, with one batched store read for all.

    ``default`` stands for an absent or invalid key unless ``except_missing``; data
    recorded but not on this machine raises MissingDataError.
    """
    digests: list[Optional[str]] = []
    for col, key in pairs:
        col._session.check_open()
        try:
            digest = col._digest(enc(key), warm=False)  # read_many locates just these
        except InvalidKeyError:
            if except_missing:
                raise
            digest = None
        if digest is None and except_missing:
            raise SampleNotFoundError(col.name, key)
        digests.append(digest)
    if not pairs:
        return []
    store = pairs[0][0]._session.store
    wanted = list(dict.fromkeys(Digest(d) for d in digests if d is not None))
    for absent in store.missing(wanted) if wanted else ():
        col, key = pairs[digests.index(absent)]
        raise col._missing(key, absent)
    at: dict[str, list[int]] = {}
    for i, digest in enumerate(digests):
        if digest is not None:
            at.setdefault(digest, []).append(i)
    out = [default] * len(pairs)
    try:
        for d, meta, data in store.read_many(wanted):  # decoded as read: buffers may be reused
            for i in at[d]:
                out[i] = pairs[i][0]._decode(meta, data)
    except KeyError as exc:  # gone since missing() was asked (a streaming store: not on the remote)
        gone = exc.args[0] if exc.args and exc.args[0] in at else None
        if gone is None:
            raise
        col, key = pairs[at[gone][0]]
        raise col._missing(key, gone) from None
    return out


# -- what the checkout that owns a column does with it (see .session) ----------------------------
def session_of(col: ColumnReads) -> "CheckoutSession":
    """The session of the checkout ``col`` belongs to."""
    return col._session


def staged(col: ColumnReads) -> tuple[Optional[ColumnRecords], StagedChanges]:
    """The column's committed records and its staged changes (encoded key -> digest or None),
    which a flush writes as the column's new records."""
    return col._records, col._changes


def rebase(col: ColumnReads, records: ColumnRecords) -> None:
    """After a flush: ``records`` hold the staged changes now (the column object stays live)."""
    col._records, col._changes, col._count = records, StagedChanges(), records.count


def adopt(col: ColumnReads, fresh: Optional[ColumnReads]) -> bool:
    """After a reset or merge: drop ``col``'s staged changes and take over the records of
    ``fresh``, its successor, if it has the same schema (True: ``col`` stands for it from now
    on, so column objects users hold stay live); else ``col`` is left empty."""
    col._changes, col._count = StagedChanges(), 0
    if fresh is None or fresh._schema != col._schema:
        return False
    col._records, col._count = fresh._records, fresh._count
    return True


def int_index(col: ColumnReads) -> Optional[tuple[Any, Any]]:
    """(sorted int keys, their raw digests) of a column with committed records only and int
    keys only; None otherwise (the checkout must be open)."""
    col._session.check_open()
    if col._changes or col._records is None:
        return None
    return col._records.int_index()


def recorded_digest(col: ColumnReads, key: Key) -> Optional[str]:
    """The digest recorded for ``key`` (staged changes applied; None when absent), without
    warming the store's lookups."""
    return col._digest(enc(key), warm=False)
