"""Images imported the way users expect (issue 11), with real Pillow (the `images` extra):
palette images as RGB(A), every frame of an animation, 1-bit images not silently bool."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hangar_git import Repository

from .conftest import Hangar, one_line_error

Image = pytest.importorskip("PIL.Image")


def column(path: Path, name: str) -> dict:
    with Repository(path).checkout() as co:
        return dict(co.columns[name].items())


def test_rgb_png(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    Image.fromarray(pixels).save(tmp_path / "pic.png")
    hangar.ok("add", "pics", tmp_path / "pic.png")
    hangar.ok("commit", "-m", "png")
    np.testing.assert_array_equal(column(repo_dir, "pics")["pic"], pixels)


def test_palette_png_becomes_rgb_and_rgba(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: palette PNGs were imported as palette indices."""
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, :] = (255, 0, 0)
    rgb[1, :] = (0, 0, 255)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=2).save(tmp_path / "pal.png")
    with_alpha = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    with_alpha.info["transparency"] = 0
    with_alpha.save(tmp_path / "alpha.png", transparency=0)
    hangar.ok("add", "pal", tmp_path / "pal.png")
    hangar.ok("add", "alpha", tmp_path / "alpha.png")
    hangar.ok("commit", "-m", "palette")
    np.testing.assert_array_equal(column(repo_dir, "pal")["pal"], rgb)
    rgba = column(repo_dir, "alpha")["alpha"]
    assert rgba.shape == (2, 3, 4) and {int(a) for a in rgba[..., 3].ravel()} <= {0, 255}
    assert len({int(a) for a in rgba[..., 3].ravel()}) == 2


def test_every_frame_of_an_animation(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: only the first frame of an animated GIF was kept."""
    frames = [Image.fromarray(np.full((2, 2, 3), v, np.uint8)) for v in (0, 120, 250)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    hangar.ok("add", "anim", tmp_path / "anim.gif")
    hangar.ok("commit", "-m", "gif")
    got = column(repo_dir, "anim")
    assert sorted(got) == ["anim:0", "anim:1", "anim:2"]
    assert [int(got[f"anim:{i}"][0, 0, 0]) for i in range(3)] == [0, 120, 250]
    assert got["anim:1"].shape == (2, 2, 3)


def test_one_bit_images_are_not_silently_bool(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    """Regression: 1-bit images became bool arrays without a word."""
    bits = np.array([[0, 255], [255, 0]], np.uint8)
    Image.fromarray(bits).convert("1").save(tmp_path / "bits.png")
    hangar.ok("add", "bits", tmp_path / "bits.png")
    hangar.ok("add", "asked", tmp_path / "bits.png", "--dtype", "bool")
    hangar.ok("commit", "-m", "1-bit")
    got = column(repo_dir, "bits")["bits"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, bits)
    asked = column(repo_dir, "asked")["bits"]
    assert asked.dtype == np.bool_ and asked.tolist() == [[False, True], [True, False]]


def test_a_damaged_image_is_one_line(repo_dir: Path, hangar: Hangar, tmp_path: Path) -> None:
    (tmp_path / "bad.png").write_bytes(b"nope")
    one_line_error(hangar("add", "pics", tmp_path / "bad.png"), "bad.png")
