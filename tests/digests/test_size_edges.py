"""Samples around 1 MiB (the store's large tier starts there): -1, exact, +1 bytes.

Regression: a fixed-shape column of exactly 1 MiB samples (512x512 float32,
1024x1024 uint8) raised IndexError from the store on ``values()``/``items()``
after commit. The column chose its fast path by the hashing block size while
the store keeps objects of 1 MiB and more in another tier; now the column
relies only on ``gather``'s contract (what it does not serve is read singly).
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np
import pytest

from hangar_git import Repository

MIB = 1 << 20
SHAPES = {"minus1": ((MIB - 1,), np.uint8), "exact-u1": ((1024, 1024), np.uint8),
          "exact-f4": ((512, 512), np.float32), "plus1": ((MIB + 1,), np.uint8)}


def arrays(shape: tuple[int, ...], dtype: Any, count: int = 3) -> dict[Any, np.ndarray]:
    rng = np.random.default_rng(sum(shape))
    return {i if i % 2 else f"k{i}": rng.integers(0, 255, size=shape).astype(dtype) for i in range(count)}


def fingerprint(pairs: Any) -> str:
    """One hash over (key, bytes) pairs in key order: the same in any process."""
    h = hashlib.sha256()
    for key, value in sorted(pairs, key=lambda kv: str(kv[0])):
        h.update(f"{key!r}:{value.dtype.str}:{value.shape}".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def check(col: Any, values: dict[Any, np.ndarray]) -> None:
    expected = fingerprint(values.items())
    assert fingerprint(col.items()) == expected
    assert fingerprint(col.items(local=True)) == expected
    assert fingerprint(zip(sorted(values, key=str), sorted(col.values(), key=lambda a: a.tobytes()))) \
        == fingerprint(zip(sorted(values, key=str), sorted(values.values(), key=lambda a: a.tobytes())))
    assert sorted(map(str, col.keys())) == sorted(map(str, values))
    assert fingerprint((k, col[k]) for k in values) == expected


@pytest.mark.parametrize("variable", [False, True], ids=["fixed", "variable"])
@pytest.mark.parametrize("size", list(SHAPES))
def test_samples_around_the_large_tier_read_back(repo: Repository, size: str, variable: bool,
                                                 run_py: Callable[..., Any]) -> None:
    shape, dtype = SHAPES[size]
    values = arrays(shape, dtype)
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("c", shape=shape, dtype=dtype, variable_shape=variable)
        col.update(values)
        check(col, values)          # unflushed
        co.commit("edges")
        check(col, values)          # committed, same checkout
    with repo.checkout() as co:
        check(co["c"], values)      # a new read checkout
    out = run_py(f"""
        import hashlib
        import numpy as np
        from hangar_git import Repository
        co = Repository({str(repo.path)!r}).checkout()
        h = hashlib.sha256()
        for key, value in sorted(co["c"].items(), key=lambda kv: str(kv[0])):
            h.update(f"{{key!r}}:{{value.dtype.str}}:{{value.shape}}".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        print(h.hexdigest(), len(list(co["c"].values())))
        co.close()
    """)
    assert out.stdout.split() == [fingerprint(values.items()), str(len(values))]


def root(array: np.ndarray) -> np.ndarray:
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def test_a_column_of_large_rows_is_not_gathered_into_one_block(repo: Repository) -> None:
    """40 rows of 1 MiB: values() reads them in blocks of a bounded size, not all at once."""
    values = arrays((MIB,), np.uint8, count=40)
    with repo.checkout(write=True) as co:
        co.add_ndarray_column("c", shape=(MIB,), dtype=np.uint8).update(values)
        co.commit("many")
    with repo.checkout() as co:
        blocks = [root(v).nbytes for v in co["c"].values()]
        assert fingerprint(co["c"].items()) == fingerprint(values.items())
    assert len(blocks) == 40 and max(blocks) < 40 * MIB
