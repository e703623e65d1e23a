"""make_torch_dataset and make_numpy_dataset, used as a training script uses them:
real DataLoader workers (2 of them) under fork, forkserver and spawn; a hang fails
through the DataLoader's timeout."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

import hangar_git
from hangar_git import Repository, make_numpy_dataset, make_torch_dataset
from hangar_git.errors import DatasetKeysError, MissingDataError

from .conftest import new_repo
from tests.storecalls import count_store_reads

torch = pytest.importorskip("torch", reason="the torch extra: pip install -e '.[test,torch]'")
from torch.utils.data import DataLoader, Dataset  # noqa: E402

START_METHODS = ["fork", "forkserver", "spawn"]
TIMEOUT = 120
"""Seconds a DataLoader worker may take for one batch before the test fails."""


def _fill(repo: Repository, n: int) -> Repository:
    with repo.checkout(write=True) as co:
        img = co.add_ndarray_column("images", prototype=np.zeros((2, 3), dtype=np.uint8))
        lab = co.add_ndarray_column("labels", prototype=np.zeros((), dtype=np.int64))
        name = co.add_str_column("names")
        with co.columns:
            for i in range(n):
                img[i] = np.full((2, 3), i % 256, dtype=np.uint8)
                lab[i] = np.array(i, dtype=np.int64)
                name[i] = f"n{i}"
        co.commit("training data")
    return repo


@pytest.fixture
def training(repo: Repository) -> Repository:
    return _fill(repo, 300)


# -- torch --------------------------------------------------------------------------
def test_torch_dataset_items(training: Repository) -> None:
    co = training.checkout()
    ds = make_torch_dataset([co["images"], co["labels"], co["names"]])
    assert isinstance(ds, Dataset) and len(ds) == 300
    img, lab, name = ds[7]
    i = int(lab)
    assert name == f"n{i}" and (img == i % 256).all() and img.shape == (2, 3)
    assert ds[7].labels == lab  # a namedtuple of the column names, as in Hangar
    named = make_torch_dataset([co["images"], co["labels"]], field_names=("x", "y"))
    assert named[0]._fields == ("x", "y")


@pytest.mark.parametrize("method", START_METHODS)
def test_dataloader_two_workers(training: Repository, method: str) -> None:
    co = training.checkout()
    ds = make_torch_dataset([co["images"], co["labels"], co["names"]], field_names=("x", "y", "name"))
    loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=2, multiprocessing_context=method,
                        timeout=TIMEOUT)
    seen: list[int] = []
    for batch in loader:
        assert type(batch).__name__ == "BatchTuple"
        assert batch.x.dtype == torch.uint8 and batch.x.shape[1:] == (2, 3)
        labels = batch.y.tolist()
        assert list(batch.name) == [f"n{i}" for i in labels]
        assert (batch.x == (batch.y % 256).to(torch.uint8)[:, None, None]).all()
        seen += labels
    assert sorted(seen) == list(range(300))  # each sample once per epoch


def test_dataloader_with_a_users_own_dataset_over_a_column_under_fork(training: Repository) -> None:
    """A forked worker using the column its parent opened (and read from) works."""
    co = training.checkout()

    class Mine(Dataset):
        def __init__(self, col) -> None:
            self.col, self.keys = col, list(col.keys())

        def __len__(self) -> int:
            return len(self.keys)

        def __getitem__(self, i: int):
            return self.col[self.keys[i]]

    ds = Mine(co["labels"])
    assert int(ds[0]) == ds.keys[0]
    loader = DataLoader(ds, batch_size=50, num_workers=2, multiprocessing_context="fork", timeout=TIMEOUT)
    assert sorted(torch.cat(list(loader)).tolist()) == list(range(300))


def test_keys_and_index_range(training: Repository) -> None:
    co = training.checkout()
    ds = make_torch_dataset(co["names"], keys=[5, 9, 2])
    assert [ds[i][0] for i in range(3)] == ["n5", "n9", "n2"]
    assert len(make_torch_dataset(co["names"], index_range=slice(10, 20))) == 10
    with pytest.raises(DatasetKeysError, match="999"):
        make_torch_dataset([co["names"], co["labels"]], keys=[1, 999])
    with pytest.raises(ValueError):  # Hangar 0.5 raised ValueError here
        make_torch_dataset(co["names"], keys=[1, 999])
    with pytest.raises(KeyError):
        make_torch_dataset(co["names"], keys=[1, 999])
    with pytest.raises(ValueError, match="field_names"):
        make_torch_dataset([co["names"], co["labels"]], field_names=("only_one",))


def test_only_keys_all_columns_share(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        a, b = co.add_str_column("a"), co.add_str_column("b")
        for i in range(10):
            a[i] = f"a{i}"
            if i % 2:
                b[i] = f"b{i}"
        co.commit("uneven")
    co = repo.checkout()
    ds = make_torch_dataset([co["a"], co["b"]])
    assert sorted(ds.keys) == [1, 3, 5, 7, 9]


def test_columns_of_a_write_checkout_are_refused(training: Repository) -> None:
    with training.checkout(write=True) as co:
        with pytest.raises(TypeError, match="write checkout"):
            make_torch_dataset(co["images"])
        with pytest.raises(TypeError, match="write checkout"):
            make_numpy_dataset(co["images"])


def test_dataset_pickles_names_not_handles(training: Repository) -> None:
    co = training.checkout()
    ds = make_torch_dataset([co["images"], co["names"]])
    blob = pickle.dumps(ds)
    assert len(blob) < 20_000  # keys and names, no data or handles
    again = pickle.loads(blob)
    assert again[3].names == ds[3].names
    assert pickle.loads(pickle.dumps(ds[3])).names == ds[3].names


def test_remote_keys_left_out_and_named_when_asked_for(training: Repository, tmp_path: Path) -> None:
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("c", "c@x", str(training.path))
    with pytest.warns(UserWarning, match="not on this machine"):
        co = clone.checkout()
    with pytest.raises(ValueError, match="fetch-data"):
        make_torch_dataset(co["names"])  # no sample's data is here
    ds = make_torch_dataset(co["names"], keys=[1, 2])
    with pytest.raises(MissingDataError, match="fetch-data"):
        ds[0]


def test_torch_missing_says_how_to_install(training: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "torch" or m.startswith("torch.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "hangar_git.api.torch_dataset", raising=False)
    co = training.checkout()
    with pytest.raises(ImportError, match=r"hangar-git\[torch\]"):
        hangar_git.make_torch_dataset(co["names"])
    ds = make_numpy_dataset(co["names"], batch_size=10)  # the numpy one needs no torch
    assert ds.num_batches == 30


# -- numpy --------------------------------------------------------------------------
def test_numpy_batches(training: Repository) -> None:
    co = training.checkout()
    ds = make_numpy_dataset([co["images"], co["labels"], co["names"]], batch_size=64)
    assert ds.num_batches == 5 and len(ds) == 300
    epochs = []
    for _ in range(2):
        labels: list[int] = []
        for images, lab, names in ds:
            assert isinstance(images, np.ndarray) and images.shape == (len(lab), 2, 3)
            assert lab.dtype == np.int64 and names == [f"n{i}" for i in lab]
            assert (images == (lab % 256).astype(np.uint8)[:, None, None]).all()
            labels += lab.tolist()
        assert sorted(labels) == list(range(300))
        epochs.append(labels)
    assert epochs[0] != epochs[1]  # reshuffled each epoch
    ordered = make_numpy_dataset(co["labels"], batch_size=100, shuffle=False, drop_last=True)
    assert [b.labels.shape for b in ordered] == [(100,)] * 3
    dropped = make_numpy_dataset(co["labels"], batch_size=128, drop_last=True)
    assert dropped.num_batches == 2 and sum(len(b.labels) for b in dropped) == 256
    single = make_numpy_dataset(co["names"], batch_size=None, shuffle=False)
    assert [s.names for s in single][:2] == [co["names"][k] for k in single.group.keys[:2]]


@pytest.mark.parametrize("bad", [0, -1, 2.5, "64"])
def test_numpy_bad_batch_size(training: Repository, bad: object) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        make_numpy_dataset(training.checkout()["names"], batch_size=bad)  # type: ignore[arg-type]


def test_numpy_batches_are_batched_store_reads(training: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    """Per batch: each fixed-shape column one gather of its rows from the store's chunks,
    the other columns together one read_many; no single reads."""
    co = training.checkout()
    ds = make_numpy_dataset([co["images"], co["labels"], co["names"]], batch_size=100)
    calls = count_store_reads(co._store, monkeypatch, gather=True)
    batches = list(ds)
    assert sum(len(b.labels) for b in batches) == 300
    assert calls == {"read": 0, "read_many": 3, "gather": 6}
    for b in batches:  # and the gathered rows are the right ones
        assert (b.images == (b.labels % 256).astype(np.uint8)[:, None, None]).all()
        assert b.names == [f"n{i}" for i in b.labels]


def test_gathered_batches_with_absent_keys_and_str_keys(repo: Repository) -> None:
    with repo.checkout(write=True) as co:
        x = co.add_ndarray_column("x", prototype=np.zeros(2, dtype=np.int64))
        y = co.add_ndarray_column("y", prototype=np.zeros(2, dtype=np.int64))
        for i in range(20):
            x[i] = np.array([i, -i])
            y[f"k{i}"] = np.array([i, i])
        co.commit("int and str keys")
    co = repo.checkout()
    ds = make_torch_dataset(co["x"])
    assert ds.keys == list(range(20))  # int keys come sorted
    batch = ds.__getitems__([3, 1, 2])
    assert [tuple(s.x) for s in batch] == [(3, -3), (1, -1), (2, -2)]
    by_name = make_numpy_dataset(co["y"], batch_size=5, shuffle=False)
    assert sum(len(b.y) for b in by_name) == 20
    missing = make_torch_dataset(co["x"])
    missing.group.keys.append(99)  # a key no record has: named, not a wrong row
    with pytest.raises(KeyError, match="99"):
        missing.__getitems__([0, 20])


# -- a million rows (--slow) --------------------------------------------------------
@pytest.mark.slow
def test_a_million_rows_through_two_workers(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "big")
    n = 1_000_000
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros(16, dtype=np.uint8))
        col.update({i: np.frombuffer(i.to_bytes(16, "little"), dtype=np.uint8) for i in range(n)})
        co.commit("a million")
    co = repo.checkout()
    ds = make_torch_dataset(co["x"])
    loader = DataLoader(ds, batch_size=256, shuffle=True, num_workers=2, timeout=TIMEOUT)
    total = 0
    for (batch,) in loader:
        total += len(batch)
    assert total == n
    seen = np.zeros(n, dtype=bool)
    for (batch,) in make_numpy_dataset(co["x"], batch_size=4096):
        seen[batch[:, :4].copy().view(np.uint32).ravel()] = True
    assert seen.all()


def test_columns_sharing_no_keys_say_so_and_name_fetch_data_only_for_partial_data(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "repo")
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("a", prototype=np.zeros(2))[0] = np.zeros(2)
        co.add_ndarray_column("b", prototype=np.zeros(2))[1] = np.ones(2)
        co.commit("disjoint keys")
    with repo.checkout() as co:
        with pytest.raises(hangar_git.InvalidArgumentError) as raised:
            make_torch_dataset([co["a"], co["b"]])
    message = str(raised.value)
    assert "columns share no keys" in message and "on this machine" not in message, message
    assert "fetch-data" not in message
    clone = Repository(tmp_path / "clone", exists=False)
    clone.clone("me", "me@example.com", str(tmp_path / "repo"))
    with pytest.warns(UserWarning, match="not on this machine"):
        co = clone.checkout()
    with co, pytest.raises(hangar_git.InvalidArgumentError) as raised:
        make_torch_dataset([co["a"], co["a"]])
    message = str(raised.value)
    assert "no keys whose data is on this machine" in message and "fetch-data" in message, message
    assert "stream_from" in message
