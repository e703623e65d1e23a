"""`git hangar show REV COLUMN`: the column as `ls` lists it, then one readable line per sample
(no Python repr), the first 10 unless -n says otherwise; consistent with `show REV COLUMN KEY`."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hangar_git import Repository

from .conftest import Hangar


def make(path: Path, samples: int) -> Hangar:
    repo = Repository(str(path), exists=False)
    repo.init("t", "t@x")
    with repo.checkout(write=True) as co:
        col = co.add_ndarray_column("x", prototype=np.zeros((2, 3), np.float32))
        for i in range(samples):
            col[i] = np.full((2, 3), i, np.float32)
        big = co.add_ndarray_column("big", prototype=np.zeros(1000, np.int64))
        big[0] = np.arange(1000)
        text = co.add_str_column("s")
        text["short"], text["long"] = "hello", "y" * 500
        co.commit("m")
    return Hangar(path)


def test_show_column_prints_a_line_per_sample(tmp_path: Path) -> None:
    hangar = make(tmp_path, 3)
    lines = hangar.ok("show", "master", "x").stdout.splitlines()
    assert lines[0] in hangar.ok("ls", "master").stdout.splitlines()  # as `ls` lists the column
    assert lines[0].split("\t") == ["x", "ndarray", "float32", "2x3", "3"]
    assert lines[1:] == ["0\t2x3\t[[0., 0., 0.], [0., 0., 0.]]", "1\t2x3\t[[1., 1., 1.], [1., 1., 1.]]",
                         "2\t2x3\t[[2., 2., 2.], [2., 2., 2.]]"]
    assert "Hangar" not in hangar.ok("show", "master", "x").stdout
    one = hangar.ok("show", "master", "x", "1").stdout  # the same values, in full
    assert one.replace("\n", "").replace(" ", "") == lines[2].split("\t")[2].replace(" ", "")


def test_large_samples_show_their_edges(tmp_path: Path) -> None:
    hangar = make(tmp_path, 1)
    big = hangar.ok("show", "master", "big").stdout.splitlines()[1]
    assert big.replace(" ", "") == "0\t1000\t[0,1,...,998,999]", big
    text = dict(line.split("\t", 1) for line in hangar.ok("show", "master", "s").stdout.splitlines()[1:])
    assert text["short"] == "5 chars\t'hello'"
    assert text["long"] == "500 chars\t'" + "y" * 79 + "..."
    assert hangar.ok("show", "master", "s", "long").stdout == "y" * 500 + "\n"


def test_the_sample_limit(tmp_path: Path) -> None:
    hangar = make(tmp_path, 11)
    out = hangar.ok("show", "master", "x").stdout.splitlines()
    assert len(out) == 1 + 10 + 1 and out[-1].startswith("... 1 more sample(s)")
    assert [line.split("\t")[0] for line in out[1:11]] == [str(i) for i in range(10)]
    assert len(hangar.ok("show", "master", "x", "-n", "11").stdout.splitlines()) == 1 + 11
    assert len(hangar.ok("show", "master", "x", "-n", "0").stdout.splitlines()) == 1 + 11
    three = hangar.ok("show", "master", "x", "-n", "3").stdout.splitlines()
    assert len(three) == 1 + 3 + 1 and three[-1].startswith("... 8 more sample(s)")
    assert hangar("show", "master", "x", "-n", "-1").exit_code == 2
