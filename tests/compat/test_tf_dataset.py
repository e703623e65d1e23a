"""make_tf_dataset as a Hangar 0.5 user calls it: ``make_tf_dataset(columns, keys=None,
index_range=None, shuffle=True)`` gives a ``tf.data.Dataset`` of tuples, one tensor per
column, that ``.batch(n)`` batches.

TensorFlow runs in a fresh interpreter: its thread pools make a process that imported
it unsafe to fork, and the suite's workers fork DataLoader workers.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import hangar_git
from hangar_git import Repository

from tests.subprocesses import python_env, run_python

from .conftest import new_repo

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="the tensorflow extra: pip install -e '.[test,tensorflow]'")
N = 300


@pytest.fixture
def data(tmp_path: Path) -> Repository:
    repo = new_repo(tmp_path / "tf")
    with repo.checkout(write=True) as co:
        img = co.add_ndarray_column("images", prototype=np.zeros((2, 3), dtype=np.uint8))
        lab = co.add_ndarray_column("labels", prototype=np.zeros((), dtype=np.int64))
        name = co.add_str_column("names")
        raw = co.add_bytes_column("raw")
        var = co.add_ndarray_column("var", shape=(4,), dtype=np.float32, variable_shape=True)
        with co.columns:
            for i in range(N):
                img[i] = np.full((2, 3), i % 256, dtype=np.uint8)
                lab[i] = np.array(i, dtype=np.int64)
                name[i] = f"n{i}"
                raw[i] = bytes([i % 256]) * 3
                var[i] = np.arange(i % 4 + 1, dtype=np.float32)
        co.commit("training data")
    return repo


def test_tf_dataset_of_every_column_kind(data: Repository) -> None:
    run_python(f"""
        import numpy as np
        import tensorflow as tf
        from hangar_git import Repository, make_tf_dataset

        co = Repository({data.path!r}).checkout()
        cols = [co["images"], co["labels"], co["names"], co["raw"], co["var"]]
        ds = make_tf_dataset(cols)
        assert isinstance(ds, tf.data.Dataset)
        spec = ds.element_spec
        assert [s.dtype for s in spec] == [tf.uint8, tf.int64, tf.string, tf.string, tf.float32]
        assert [tuple(s.shape) for s in spec] == [(2, 3), (), (), (), (None,)]
        seen = []
        for img, lab, name, raw, var in ds:
            i = int(lab)
            assert img.numpy().tolist() == [[i % 256] * 3] * 2
            assert name.numpy() == f"n{{i}}".encode() and raw.numpy() == bytes([i % 256]) * 3
            assert var.numpy().tolist() == list(range(i % 4 + 1))
            seen.append(i)
        assert sorted(seen) == list(range({N}))          # each sample once per pass
        again = [int(lab) for _, lab, _, _, _ in ds]
        assert sorted(again) == sorted(seen) and again != seen   # reshuffled on every pass

        ordered = make_tf_dataset([co["images"], co["labels"]], shuffle=False)
        batches = list(ordered.batch(64))
        assert [tuple(b[0].shape) for b in batches] == [(64, 2, 3)] * 4 + [(44, 2, 3)]
        assert np.concatenate([b[1].numpy() for b in batches]).tolist() == list(range({N}))

        some = make_tf_dataset(co["labels"], keys=[5, 7, 9], shuffle=False)
        assert [int(x[0]) for x in some] == [5, 7, 9]
        ranged = make_tf_dataset(co["labels"], index_range=slice(10, 13), shuffle=False)
        assert [int(x[0]) for x in ranged] == [10, 11, 12]
        print("ok")
    """, python_env(), timeout=300)


def test_tf_dataset_bad_input_is_refused_clearly(data: Repository) -> None:
    co = data.checkout()
    with pytest.raises(hangar_git.InvalidArgumentError, match="shuffle takes True or False"):
        hangar_git.make_tf_dataset(co["labels"], shuffle="yes")
    with pytest.raises(hangar_git.DatasetKeysError):
        hangar_git.make_tf_dataset(co["labels"], keys=[N + 1])


def test_tensorflow_missing_says_how_to_install(data: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.delitem(sys.modules, "hangar_git.api.tf_dataset", raising=False)
    with pytest.raises(ImportError, match=r"hangar-git\[tensorflow\]"):
        hangar_git.make_tf_dataset(data.checkout()["labels"])
