"""PDQ signal and index: hex encoding, exact radius search, Hamming distance, and the production matching
rule on reposts (min over the 8 dihedral hashes of the repost ≤ MATCH_THRESHOLD of the original's hash).

Self-contained: scikit-image's bundled pictures and generated images only."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageOps

from reclaim.media import MediaLimits, decode_media
from reclaim.scan.analyze import analyze_bytes
from reclaim.signals.index import MATCH_THRESHOLD, LinearIndex, bits_to_hex, hamming, hex_to_bytes
from reclaim.signals.pdq import MIN_QUALITY, PdqSignal

# --- helpers -----------------------------------------------------------------------------------------


def sk(name: str) -> np.ndarray:
    from skimage import data

    img = np.asarray(getattr(data, name)())
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    return np.ascontiguousarray(img[..., :3].astype(np.uint8))


def jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def known_hash(data: bytes) -> tuple[str, int]:
    """The hash of a known image, computed as ``add_person`` computes it (variant 0)."""
    frame = decode_media(data, limits=MediaLimits(max_side=1024, max_frames=1)).frames[0].image
    first = PdqSignal.hash_frames([(0, frame)])[0]
    return first.value, int(first.quality or 0)


def scan_hashes(data: bytes) -> list[tuple[str, int]]:
    """The 8 dihedral hashes (and quality) a scan stores for a file's first frame."""
    analysis = analyze_bytes(data, faces=False)
    return [(s.value, int(s.quality or 0)) for s in analysis.signals if s.signal_type == "pdq"]


def repost_distance(original: bytes, repost: bytes) -> int:
    value, _ = known_hash(original)
    return min(hamming(v, value) for v, _ in scan_hashes(repost))


def random_hex(rng: np.random.Generator) -> str:
    return bytes(rng.integers(0, 256, size=32, dtype=np.uint8)).hex()


def flip_bits(value: str, n: int, rng: np.random.Generator) -> str:
    as_int = int(value, 16)
    for bit in rng.choice(256, size=n, replace=False):
        as_int ^= 1 << int(bit)
    return f"{as_int:064x}"


def popcount_distance(a: str, b: str) -> int:
    """An independent Hamming distance (Python ints), to check the numpy one against."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


# --- encoding ----------------------------------------------------------------------------------------


def test_hex_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        bits = rng.integers(0, 2, size=256).astype(bool)
        value = bits_to_hex(bits)
        assert len(value) == 64
        assert PdqSignal.validate(value) == value
        assert np.array_equal(np.unpackbits(hex_to_bytes(value)).astype(bool), bits)
        assert bits_to_hex(np.unpackbits(hex_to_bytes(value))) == value


def test_bit_order_is_big_endian_within_bytes() -> None:
    bits = np.zeros(256, dtype=np.uint8)
    bits[0] = 1
    bits[255] = 1
    assert bits_to_hex(bits) == "80" + "00" * 30 + "01"


def test_validate_normalises_and_rejects() -> None:
    value = "AB" * 32
    assert PdqSignal.validate(f"  {value}\n") == value.lower()
    for bad in ("", "ab" * 31, "ab" * 33, "zz" * 32, "ab" * 31 + "a "):
        with pytest.raises(ValueError):
            PdqSignal.validate(bad)


# --- distance and index ------------------------------------------------------------------------------


def test_hamming_properties() -> None:
    rng = np.random.default_rng(2)
    hashes = [random_hex(rng) for _ in range(30)]
    assert hamming("0" * 64, "f" * 64) == 256
    for a in hashes:
        assert hamming(a, a) == 0
        for b in hashes[:10]:
            assert hamming(a, b) == hamming(b, a) == popcount_distance(a, b)
            for c in hashes[10:13]:
                assert hamming(a, c) <= hamming(a, b) + hamming(b, c)


def test_index_radius_query_is_exact() -> None:
    rng = np.random.default_rng(3)
    stored = [random_hex(rng) for _ in range(400)]
    # Near copies at distances around the threshold, so that the boundary is exercised.
    for d in (0, 1, 15, 30, 31, 32, 33, 40):
        stored.append(flip_bits(stored[d], d, rng))
    index = LinearIndex()
    for ident, value in enumerate(stored):
        index.add(value, ident)
    assert len(index) == len(stored)
    queries = stored[:20] + [flip_bits(v, int(rng.integers(0, 45)), rng) for v in stored[:60]]
    queries += [random_hex(rng) for _ in range(20)]
    for threshold in (MATCH_THRESHOLD, 0, 10, 100, 128):
        for q in queries:
            brute = sorted(
                (
                    (i, popcount_distance(q, v))
                    for i, v in enumerate(stored)
                    if popcount_distance(q, v) <= threshold
                ),
                key=lambda t: (t[1], t[0]),
            )
            assert index.query(q, threshold) == brute


def test_index_threshold_is_inclusive_and_defaults_to_match_threshold() -> None:
    rng = np.random.default_rng(4)
    base = random_hex(rng)
    index = LinearIndex()
    index.add(flip_bits(base, MATCH_THRESHOLD, rng), 1)
    index.add(flip_bits(base, MATCH_THRESHOLD + 1, rng), 2)
    assert index.query(base) == [(1, MATCH_THRESHOLD)]


def test_index_empty_and_incremental() -> None:
    index = LinearIndex()
    assert index.query("0" * 64) == []
    index.add("0" * 64, 7)
    assert index.query("0" * 64) == [(7, 0)]
    index.add("0" * 63 + "1", 8)  # added after a query: must be searched too
    assert index.query("0" * 64) == [(7, 0), (8, 1)]


# --- hashing images ----------------------------------------------------------------------------------


def test_hash_frames_gives_eight_variants_per_frame() -> None:
    frames = [(0, sk("astronaut")), (5, sk("coffee"))]
    values = PdqSignal.hash_frames(frames)
    assert [(v.frame_index, v.variant) for v in values] == [(f, k) for f in (0, 5) for k in range(8)]
    assert all(v.signal_type == "pdq" and PdqSignal.validate(v.value) == v.value for v in values)
    assert len({v.value for v in values}) == 16
    assert all(v.quality is not None and v.quality >= MIN_QUALITY for v in values)


T = Image.Transpose
REPOSTS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg_q90": lambda im: jpeg(im, 90),
    "jpeg_q30": lambda im: jpeg(im, 30),
    "resize50_q75": lambda im: jpeg(im.resize((im.width // 2, im.height // 2), Image.Resampling.BICUBIC), 75),
    "resize75_q50": lambda im: jpeg(im.resize((im.width * 3 // 4, im.height * 3 // 4)), 50),
    "hflip": lambda im: jpeg(ImageOps.mirror(im), 90),
    "vflip": lambda im: jpeg(ImageOps.flip(im), 90),
    "rot90": lambda im: jpeg(im.transpose(T.ROTATE_90), 90),
    "rot180": lambda im: jpeg(im.transpose(T.ROTATE_180), 90),
    "rot270": lambda im: jpeg(im.transpose(T.ROTATE_270), 90),
    "transpose": lambda im: jpeg(im.transpose(T.TRANSPOSE), 90),
    "resize50_q30_hflip": lambda im: jpeg(ImageOps.mirror(im.resize((im.width // 2, im.height // 2))), 30),
}


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
@pytest.mark.parametrize("transform", sorted(REPOSTS))
def test_reposts_match_their_original(name: str, transform: str) -> None:
    pixels = sk(name)
    original = png(pixels)
    repost = REPOSTS[transform](Image.fromarray(pixels))
    _, quality = known_hash(original)
    assert quality >= MIN_QUALITY
    assert all(q >= MIN_QUALITY for _, q in scan_hashes(repost))
    assert repost_distance(original, repost) <= MATCH_THRESHOLD


def test_unrelated_images_do_not_match() -> None:
    names = ["astronaut", "coffee", "camera", "chelsea", "rocket", "coins", "moon", "hubble_deep_field"]
    files = {n: png(sk(n)) for n in names}
    for a in names:
        for b in names:
            if a != b:
                d = repost_distance(files[b], files[a])
                assert d > MATCH_THRESHOLD, f"{a} vs {b}: {d}"


@pytest.mark.parametrize(
    "image",
    [
        np.full((256, 256, 3), 128, dtype=np.uint8),
        np.zeros((300, 200, 3), dtype=np.uint8),
        np.full((64, 64, 3), (10, 200, 30), dtype=np.uint8),
    ],
    ids=["grey", "black", "green-small"],
)
def test_flat_images_have_low_quality(image: np.ndarray) -> None:
    values = PdqSignal.hash_frames([(0, image)])
    assert all((v.quality or 0) < MIN_QUALITY for v in values)


def test_flipped_fine_texture_matches() -> None:
    pixels = sk("brick")
    assert repost_distance(png(pixels), REPOSTS["hflip"](Image.fromarray(pixels))) <= MATCH_THRESHOLD


@pytest.mark.parametrize("name", ["astronaut", "brick", "coffee", "camera"])
def test_dihedral_variants_equal_hashes_of_transformed_pixels(name: str) -> None:
    """Variant k is exactly the PDQ hash of the really transformed pixels (not a DCT-derived guess)."""
    from reclaim.signals.base import working_copy
    from reclaim.signals.pdq import exact_dihedral

    img = working_copy(sk(name))
    transforms = [
        lambda x: x,
        lambda x: np.rot90(x, 1),
        lambda x: np.rot90(x, 2),
        lambda x: np.rot90(x, 3),
        lambda x: x[::-1],
        lambda x: x[:, ::-1],
        lambda x: np.transpose(x, (1, 0, 2)),
        lambda x: np.rot90(np.transpose(x, (1, 0, 2)), 2),
    ]
    variants = exact_dihedral(img)
    for k, transform in enumerate(transforms):
        expected, _ = pdqhash.compute(np.ascontiguousarray(transform(img)))
        assert bits_to_hex(variants[k][0]) == bits_to_hex(expected), k
