"""PDQ from a luma plane computed once (reclaim.signals.pdqluma) gives exactly pdqhash's bits and quality:
for whole pictures, windows and reflections of them, and through the production hashers (the exact
dihedral variants, the robust engine's query and reference regions).

Self-contained: scikit-image's bundled pictures (with a face pasted in) and generated images only."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageDraw

from reclaim.demo import paste_face, sample_picture
from reclaim.signals import pdqluma, regions
from reclaim.signals.base import working_copy
from reclaim.signals.pdq import _REFLECTIONS, _TRANSPOSE, exact_dihedral

pytestmark = pytest.mark.skipif(not pdqluma.AVAILABLE, reason="pdqhash does not export its C++ hasher here")


def pictures() -> list[np.ndarray]:
    composite = np.asarray(paste_face(sample_picture("coffee"), width=120, at=(0.6, 0.4)))
    noise = np.random.default_rng(7).integers(0, 256, (200, 333, 3), dtype=np.uint8)
    flat = np.full((90, 70, 3), 128, np.uint8)
    chelsea = working_copy(sample_picture("chelsea"))
    return [chelsea, working_copy(composite), noise, flat, composite[:64, :64]]


def reference(image: np.ndarray) -> tuple[np.ndarray, int]:
    bits, quality = pdqhash.compute(np.ascontiguousarray(image))
    return np.asarray(bits), int(quality)


@pytest.mark.parametrize("index", range(5))
def test_luma_hashes_equal_pdqhash_for_pictures_windows_and_reflections(index: int) -> None:
    image = pictures()[index]
    plane = pdqluma.luma(image)
    h, w = image.shape[:2]
    windows = [(0, h, 0, w), (h // 5, h, 0, w), (0, h - h // 7, w // 9, w - 3)]
    for y0, y1, x0, x1 in windows:
        bits, quality = pdqluma.hash_luma(plane[y0:y1, x0:x1])
        want_bits, want_quality = reference(image[y0:y1, x0:x1])
        assert np.array_equal(bits, want_bits) and quality == want_quality
    for flip in (np.s_[:, ::-1], np.s_[::-1], np.s_[::-1, ::-1]):
        got, quality = pdqluma.dihedral_luma(plane[flip])
        want, want_quality = pdqhash.compute_dihedral(np.ascontiguousarray(image[flip]))
        assert quality == want_quality
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    assert np.array_equal(plane, pdqluma.luma(image)), "the plane must not be modified"


def test_exact_dihedral_equals_hashing_each_reflection_with_pdqhash() -> None:
    for image in pictures():
        got = exact_dihedral(image)
        for how, plain, transposed in _REFLECTIONS:
            view = {"none": image, "lr": image[:, ::-1], "ud": image[::-1], "both": image[::-1, ::-1]}[how]
            want, quality = pdqhash.compute_dihedral(np.ascontiguousarray(view))
            assert np.array_equal(got[plain][0], want[0]) and got[plain][1] == quality
            assert np.array_equal(got[transposed][0], want[_TRANSPOSE])


def bannered(image: np.ndarray) -> np.ndarray:
    """A white caption banner with text above the picture, and a black letterbox below."""
    h, w = image.shape[:2]
    out = Image.new("RGB", (w, h + 90), "white")
    out.paste(Image.fromarray(image), (0, 60))
    ImageDraw.Draw(out).text((8, 20), "look at this", fill="black", font_size=18)
    ImageDraw.Draw(out).rectangle((0, h + 60, w, h + 90), fill="black")
    return np.asarray(out)


def test_regions_equal_hashing_each_window_with_pdqhash() -> None:
    for image in [*pictures()[:3], bannered(pictures()[1])]:
        t, b, left, r = regions.border_box(image)
        pic = image[t:b, left:r]
        h = pic.shape[0]
        want = {"trimmed": reference(pic)}
        for band in regions.BANNER_BANDS:
            cut = round(h * band)
            want[f"trimmed-top{band}"] = reference(regions.trim_border(pic[cut:]))
            want[f"trimmed-bottom{band}"] = reference(regions.trim_border(pic[: h - cut]))
        top, bottom = regions.banner_rows(image)
        if top or bottom:
            want["debannered"] = reference(regions.trim_border(image[top : image.shape[0] - bottom]))
        got = regions.query_regions(image)
        assert [g.region for g in got] == list(want)
        for g in got:
            assert np.array_equal(g.bits, want[g.region][0]) and g.quality == want[g.region][1], g.region
        for g in regions.reference_regions(image)[:4]:
            assert g.bits.dtype == np.uint8
    assert "debannered" in [g.region for g in regions.query_regions(bannered(pictures()[1]))]


def test_empty_plane_is_an_error_not_a_crash() -> None:
    with pytest.raises(IndexError):
        pdqluma.hash_luma(np.zeros((0, 10), np.float32))
