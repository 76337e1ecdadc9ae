"""`greengrass_machine_learning_sdk.fingerprint(image)`: the difference hash, against values worked out by hand.

The definition (the function's docstring): gray Y (channel 0, or 0.299 R + 0.587 G + 0.114 B for 3 or 4
channels, alpha ignored); the area mean of Y over 9 columns x 8 rows of cells, cell (r, c) being
[c W/9, (c+1) W/9) x [r H/8, (r+1) H/8); bit (r, c) = 1 when P[r, c] < P[r, c+1]; row-major, most
significant first; 16 lowercase hex digits.
"""

from __future__ import annotations

import itertools
import math
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

import greengrass_machine_learning_sdk as ml
from greengrass_machine_learning_sdk import fingerprint, image_fingerprint

# An 8 x 9 image has exactly one pixel per cell, so its bits compare neighbouring pixels. Row by row:
PATTERN = np.array(
    [
        [0, 1, 0, 1, 0, 1, 0, 1, 0],  # up, down, up, ...     10101010 = aa
        [1, 0, 1, 0, 1, 0, 1, 0, 1],  # down, up, ...         01010101 = 55
        [0, 0, 0, 0, 9, 9, 9, 9, 9],  # one step up at 3->4    00010000 = 10
        [5, 4, 3, 2, 1, 2, 3, 4, 5],  # down 4 times, up 4     00001111 = 0f
        [0, 1, 2, 3, 4, 5, 6, 7, 8],  # a ramp                 11111111 = ff
        [7, 7, 7, 7, 7, 7, 7, 7, 7],  # flat                   00000000 = 00
        [3, 7, 7, 1, 8, 2, 2, 9, 0],  # 3<7 7=7 7>1 1<8 8>2 2=2 2<9 9>0: 10010010 = 92
        [0, 0, 0, 0, 0, 0, 0, 0, 1],  # up at the very end     00000001 = 01
    ]
)
PATTERN_HASH = "aa55100fff009201"
RAMP = np.tile(np.arange(9), (8, 1))  # 8 rows, brighter to the right


def test_a_ramp_brightening_to_the_right_sets_every_bit():
    assert fingerprint(RAMP) == "ffffffffffffffff"


def test_a_constant_image_clears_every_bit():
    for image in (
        np.zeros((8, 9)),
        np.full((8, 9), 200, dtype=np.uint8),
        np.full((7, 13), 0.1),
        np.full((3, 7), 0.7),
        np.full((37, 100, 3), 0.3, np.float32),
    ):
        assert fingerprint(image) == "0000000000000000"


def test_the_hand_worked_pattern():
    assert fingerprint(PATTERN) == PATTERN_HASH
    assert ml.fingerprint is fingerprint


def test_flips_and_transposition():
    # Left to right, every unequal pair swaps: the ramp falls (00), and the pattern's rows read backwards:
    # 010101010 -> 010101010 (aa), 101010101 -> 55, 999990000 -> 00, 5..1..5 -> 0f, 876543210 -> 00, flat 00,
    # 0,9,2,2,8,1,7,7,3: 0<9 9>2 2=2 2<8 8>1 1<7 7=7 7>3 = 10010100 (94), 100000000 -> 00.
    assert fingerprint(RAMP[:, ::-1]) == "0000000000000000"
    assert fingerprint(PATTERN[:, ::-1]) == "aa55000f00009400"
    # Upside down: the same rows in the opposite order.
    assert fingerprint(PATTERN[::-1]) == "019200ff0f1055aa"
    assert fingerprint(RAMP[::-1]) == "ffffffffffffffff"
    # Transposed, the ramp brightens downwards: every row of cells is flat.
    assert fingerprint(RAMP.T) == "0000000000000000"


def test_each_pixel_repeated_gives_the_same_cells():
    # 16 x 18: cell (r, c) is exactly the 2 x 2 block of pixel (r, c) of the pattern; 24 x 27 likewise with 3 x 3.
    assert fingerprint(PATTERN.repeat(2, axis=0).repeat(2, axis=1)) == PATTERN_HASH
    assert fingerprint(PATTERN.repeat(3, axis=0).repeat(3, axis=1).astype(np.uint8)) == PATTERN_HASH
    # Not a multiple: 8 x 13 has ramp pixels cut by the cells, whose means still rise left to right.
    assert fingerprint(np.tile(np.arange(13), (8, 1))) == "ffffffffffffffff"
    assert fingerprint(np.tile(np.linspace(0, 1, 100), (37, 1))) == "ffffffffffffffff"


def test_cells_cutting_pixels_are_area_means():
    # 1 row x 10 columns, a spike at pixel 4. In units where a pixel is 9 long, pixel j covers [9j, 9j+9)
    # and cell c [10c, 10c+10): cell 3 = [30, 40) holds 6 of pixel 3 and 4 of pixel 4 (4 * 10 = 40),
    # cell 4 = [40, 50) 5 of pixel 4 and 5 of pixel 5 (50), every other cell 0:
    # 0=0 0=0 0<40 40<50 50>0 0=0 0=0 0=0 -> 00110000 = 30, and every row of cells is that one row.
    spike = np.array([[0, 0, 0, 0, 10, 0, 0, 0, 0, 0]])
    assert fingerprint(spike) == "3030303030303030"
    # 2 rows: in units where a pixel is 8 high, cell row r is [2r, 2r+2): rows 0-3 in pixel row 0, 4-7 in row 1.
    assert fingerprint(np.vstack([spike, np.zeros((1, 10))])) == "3030303000000000"


def test_a_3_by_4_image_is_enlarged_by_areas():
    # 3 rows x 4 columns. Columns, a pixel 9 long and a cell 4 long: cells 0, 1 in pixel 0; cell 2 = [8, 12)
    # 1 of p0 + 3 of p1; cell 3 in p1; cell 4 = [16, 20) 2 of p1 + 2 of p2; cell 5 in p2; cell 6 = [24, 28)
    # 3 of p2 + 1 of p3; cells 7, 8 in p3. A row [p0..p3] gives p0, p0, (p0+3p1)/4, p1, (p1+p2)/2, p2, (3p2+p3)/4, p3, p3.
    # Rows, a pixel 8 high and a cell 3: rows 0, 1 in pixel row 0; row 2 = [6, 9) 2/3 of row 0 + 1/3 of row 1;
    # rows 3, 4 in row 1; row 5 = [15, 18) 1/3 of row 1 + 2/3 of row 2; rows 6, 7 in row 2.
    image = np.array([[0, 10, 10, 0], [5, 5, 5, 5], [9, 3, 6, 6]])
    # row 0 [0,10,10,0]: 0 0 7.5 10 10 10 7.5 0 0 -> 0=0 0<7.5 7.5<10 = = 10>7.5 7.5>0 0=0 = 01100000 (60); cell rows 0, 1
    # cell row 2 = (2 row0 + row1)/3 = [5,25,25,5]/3, row 0's shape again: 60
    # row 1, flat: 00; cell rows 3, 4
    # cell row 5 = (row1 + 2 row2)/3 = [23,11,17,17]/3: 23 23 14 11 14 17 17 17 17 (x1/3)
    #   -> 23=23 23>14 14>11 11<14 14<17 17=17 17=17 17=17 = 00011000 (18)
    # row 2 [9,3,6,6]: 9 9 4.5 3 4.5 6 6 6 6 -> = > > < < = = = = 00011000 (18); cell rows 6, 7
    expected = "6060600000181818"
    assert fingerprint(image) == expected
    # The ties (17 = (3*17 + 17)/4, 6 = (3*6 + 6)/4) are exact whatever holds the values, tenths included.
    assert fingerprint(image / 10) == expected
    assert fingerprint(image.astype(np.float32) / 10) == expected
    assert fingerprint(image.astype(np.float16) / 10) == expected


def test_a_single_pixel_fills_every_cell():
    for image in (np.array([[7]], dtype=np.uint8), np.array([[0.5]]), np.zeros((1, 1, 3)), np.array([[[1, 2, 3, 4]]])):
        assert fingerprint(image) == "0000000000000000"
    # One row of 9 gives every cell row that row; one column of 8 gives flat cell rows.
    assert fingerprint(np.arange(9)[None, :]) == "ffffffffffffffff"
    assert fingerprint(np.arange(8)[:, None]) == "0000000000000000"


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.uint64, np.int64, np.float16, np.float32, np.float64]
)
def test_the_dtype_does_not_matter(dtype):
    assert fingerprint(PATTERN.astype(dtype)) == PATTERN_HASH
    assert fingerprint(PATTERN.repeat(2, axis=0).repeat(2, axis=1).astype(dtype)) == PATTERN_HASH


def test_scaled_floats_and_offsets_give_the_uint8_hash():
    pattern = PATTERN.astype(np.uint8)
    assert fingerprint(pattern / 255) == fingerprint(pattern.astype(np.float32) / 255) == fingerprint(pattern) == PATTERN_HASH
    assert fingerprint(pattern * 3.5 - 1000) == PATTERN_HASH
    # Negated, every unequal pair swaps in place: 55, aa, 00 (its one step now down), f0, 00, 00,
    # 3,7,7,1,8,2,2,9,0 negated: > = < > < = > < = 00101001 (29), 00.
    assert fingerprint(-PATTERN.astype(np.int64) * 2**40) == fingerprint(-PATTERN.astype(np.float32)) == "55aa00f000002900"
    # bool counts 0 and 1: row 0 of the pattern, 0/1 already
    assert fingerprint(np.tile(PATTERN[0].astype(bool), (8, 1))) == "aaaaaaaaaaaaaaaa"


def test_extreme_values_stay_exact():
    row = np.zeros(9, dtype=np.int64)
    row[:2] = [2**63 - 1, -(2**63)]  # max > min, min < 0, then 0 = 0 ...: 01000000
    assert fingerprint(np.tile(row, (8, 1))) == "4040404040404040"
    urow = np.zeros(9, dtype=np.uint64)
    urow[1] = 2**64 - 1  # 0 < max, max > 0: 10000000
    assert fingerprint(np.tile(urow, (8, 1))) == "8080808080808080"
    frow = np.array([1e300, 1e-300, 0, 5e-324, 5e-324, 0, -5e-324, 0, 0])  # > > < = > > < = : 00100010 = 22
    assert fingerprint(np.tile(frow, (8, 1))) == "2222222222222222"
    # The spike of test_cells_cutting_pixels_are_area_means, 2 high on a floor of 2**53: cell 3 sums
    # 6 * 2**53 + 4 * (2**53 + 2) = 10 * 2**53 + 8, which float64 (a step of 16 there) would round away.
    spike = np.full((1, 10), 2.0**53)
    spike[0, 4] += 2
    assert fingerprint(spike) == "3030303030303030"


def test_color_images_use_bt601_luma_and_ignore_alpha():
    gray = PATTERN.astype(np.uint8) * 20
    rgb = np.stack([gray] * 3, axis=-1)
    assert fingerprint(rgb) == PATTERN_HASH
    assert fingerprint(gray[..., None]) == PATTERN_HASH
    noise = np.arange(72, dtype=np.uint8).reshape(8, 9) * 37  # any alpha at all
    assert fingerprint(np.dstack([rgb, noise])) == PATTERN_HASH
    assert fingerprint(np.dstack([gray, noise])) == PATTERN_HASH
    # Luma: red 0.299 * 255 = 76.2, green 149.7, blue 29.1. Rows R G B R G B R G B:
    # R<G G>B B<R R<G G>B B<R R<G G>B = 10110110 = b6. The mean of the channels would make all three equal.
    red, green, blue = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    assert fingerprint(np.array([[red, green, blue] * 3] * 8, dtype=np.uint8)) == "b6b6b6b6b6b6b6b6"
    # Exact weights: 0.299 * 114 = 0.114 * 299 (a tie, 0 bits); 0.299 * 115 is more: B<R every other pixel, 01010101.
    assert fingerprint(np.array([[(114, 0, 0), (0, 0, 299)] * 4 + [(114, 0, 0)]] * 8, dtype=np.uint16)) == "0000000000000000"
    assert fingerprint(np.array([[(115, 0, 0), (0, 0, 299)] * 4 + [(115, 0, 0)]] * 8, dtype=np.uint16)) == "5555555555555555"
    # and 0.587 * 114 = 0.114 * 587: green against blue ties too.
    assert fingerprint(np.array([[(0, 114, 0), (0, 0, 587)] * 4 + [(0, 114, 0)]] * 8, dtype=np.int32)) == "0000000000000000"


@pytest.mark.parametrize(
    ("image", "error", "message"),
    [
        (
            [[0, 1], [1, 0]],
            TypeError,
            "fingerprint() takes a decoded image as a numpy array (numpy.asarray converts one), not <class 'list'>",
        ),
        (np.arange(9), ValueError, "fingerprint() takes an image of shape (height, width) or (height, width, channels), not shape (9,)"),
        (np.zeros((2, 2, 2, 2)), ValueError, "not shape (2, 2, 2, 2)"),
        (
            np.zeros((4, 4, 5)),
            ValueError,
            "fingerprint() takes an image of 1 to 4 channels (gray, gray and alpha, RGB, RGBA), not 5 (shape (4, 4, 5))",
        ),
        (np.zeros((4, 4, 0)), ValueError, "not 0 (shape (4, 4, 0))"),
        (np.zeros((0, 9)), ValueError, "fingerprint() takes a non-empty image, not shape (0, 9)"),
        (np.zeros((8, 0, 3)), ValueError, "fingerprint() takes a non-empty image, not shape (8, 0, 3)"),
        (np.zeros((2, 2), dtype=complex), TypeError, "up to float64, not dtype complex128"),
        (np.array([["a"]]), TypeError, "not dtype <U1"),
        (np.array([[None]]), TypeError, "not dtype object"),
        (np.array([[0.0, np.nan]]), ValueError, "fingerprint() takes finite values, not nan (at row 0, column 1)"),
        (np.array([[[0, 0, 0], [0, -np.inf, 0]]], dtype=np.float32), ValueError, "not -inf (at row 0, column 1, channel 1)"),
    ],
)
def test_bad_images_are_refused(image, error, message):
    with pytest.raises(error) as raised:
        fingerprint(image)
    assert message in str(raised.value)


def test_alpha_is_not_even_looked_at():
    image = np.zeros((8, 9, 4))
    image[..., 3] = np.nan
    assert fingerprint(image) == "0000000000000000"


# -- against a second, deliberately naive reading of the definition: exact fractions, pixel by pixel ----------


def reference(image: np.ndarray) -> str:
    height, width = image.shape[:2]
    weights = (Fraction(299, 1000), Fraction(587, 1000), Fraction(114, 1000))

    def luma(i: int, j: int) -> Fraction:
        if image.ndim == 2:
            return Fraction(image[i, j].item())
        if image.shape[2] < 3:
            return Fraction(image[i, j, 0].item())
        return sum((w * Fraction(image[i, j, k].item()) for k, w in enumerate(weights)), Fraction(0))

    gray = [[luma(i, j) for j in range(width)] for i in range(height)]

    def overlap(a0: Fraction, a1: Fraction, b0: int, b1: int) -> Fraction:
        return max(Fraction(0), min(a1, Fraction(b1)) - max(a0, Fraction(b0)))

    cells = []
    for r in range(8):
        y0, y1 = Fraction(r * height, 8), Fraction((r + 1) * height, 8)
        row = []
        for c in range(9):
            x0, x1 = Fraction(c * width, 9), Fraction((c + 1) * width, 9)
            total = Fraction(0)
            for i, j in itertools.product(range(math.floor(y0), math.ceil(y1)), range(math.floor(x0), math.ceil(x1))):
                area = overlap(y0, y1, i, i + 1) * overlap(x0, x1, j, j + 1)
                if area:
                    total += area * gray[i][j]
            row.append(total / ((y1 - y0) * (x1 - x0)))
        cells.append(row)
    bits = "".join("1" if cells[r][c] < cells[r][c + 1] else "0" for r in range(8) for c in range(8))
    return f"{int(bits, 2):016x}"


def test_the_reference_agrees_with_the_hand_worked_values():
    assert reference(PATTERN) == PATTERN_HASH
    assert reference(np.array([[0, 10, 10, 0], [5, 5, 5, 5], [9, 3, 6, 6]])) == "6060600000181818"
    assert reference(np.array([[0, 0, 0, 0, 10, 0, 0, 0, 0, 0]])) == "3030303030303030"


@pytest.mark.parametrize("seed", range(3))
def test_random_images_match_the_reference(seed):
    rng = np.random.default_rng(seed)
    for height, width in [(1, 1), (3, 4), (5, 7), (8, 9), (9, 8), (13, 11), (17, 23), (1, 20), (20, 1), (12, 19)]:
        levels = rng.integers(0, 4, size=(height, width, 3))  # few levels: many exact ties between cells
        images = [
            levels[..., 0].astype(np.uint8),
            (levels * 60).astype(np.uint8),
            levels.astype(np.float32) / 10,
            (levels - 2).astype(np.int16),
            rng.normal(size=(height, width)),
            np.dstack([levels / 3, rng.random((height, width))]),
            (rng.integers(-(2**62), 2**62, size=(height, width))),
        ]
        for image in images:
            assert fingerprint(image) == reference(image), (height, width, image.dtype, image.shape)


# -- strip by strip: a large image is read a few rows at a time, and the hash does not change -----------------


def hostile_images(rng: np.random.Generator, height: int, width: int) -> list[np.ndarray]:
    """Every path of the exact arithmetic: small integers, integers needing several limbs, floats sharing one
    exponent range, floats mixing very large and very small values, all zeros, bools, and colour with alpha."""
    levels = rng.integers(0, 4, size=(height, width, 3))
    huge = rng.integers(-(2**63), 2**63 - 1, size=(height, width), dtype=np.int64, endpoint=True)
    spread = rng.choice(np.array([1e300, 1e-300, 0.0, 5e-324, -1e-300, 3.0, -7e200]), size=(height, width))
    return [
        levels[..., 0].astype(np.uint8),
        (levels * 60).astype(np.uint8),
        np.dstack([levels * 60, levels[..., :1]]).astype(np.uint8),
        levels.astype(np.float32) / 10,
        (levels - 2).astype(np.int16),
        rng.normal(size=(height, width)),
        huge,
        rng.integers(0, 2**64 - 1, size=(height, width), dtype=np.uint64, endpoint=True),
        spread,
        np.zeros((height, width)),
        levels[..., 0] > 1,
    ]


@pytest.mark.parametrize("strip_pixels", [1, 7, 40])
def test_strips_of_any_height_add_up_to_the_reference(monkeypatch, strip_pixels):
    # 1 pixel a strip: one row at a time; 7 and 40: strips that end inside a cell row and inside a pixel's share of two.
    monkeypatch.setattr(image_fingerprint, "STRIP_PIXELS", strip_pixels)
    rng = np.random.default_rng(strip_pixels)
    for height, width in [(1, 1), (3, 4), (9, 8), (13, 11), (17, 5), (20, 1), (12, 19)]:
        for image in hostile_images(rng, height, width):
            assert fingerprint(image) == reference(image), (height, width, image.dtype, image.shape, strip_pixels)


def test_strips_give_the_hash_of_the_image_read_whole(monkeypatch):
    rng = np.random.default_rng(7)
    images = [*hostile_images(rng, 61, 70), rng.integers(0, 256, size=(97, 130, 3), dtype=np.uint8)]
    whole = [fingerprint(image) for image in images]  # 61 x 70 and 97 x 130 fit one strip of 2**17 pixels
    for strip_pixels in (1, 1000):
        monkeypatch.setattr(image_fingerprint, "STRIP_PIXELS", strip_pixels)
        assert [fingerprint(image) for image in images] == whole


def test_a_bad_value_in_a_later_strip_is_reported_where_it_is(monkeypatch):
    monkeypatch.setattr(image_fingerprint, "STRIP_PIXELS", 9)  # one row a strip
    image = np.zeros((6, 9, 3), dtype=np.float32)
    image[4, 7, 2] = np.inf
    image[5, 0, 1] = np.nan  # a later row, but an earlier channel: channel 1 is checked before channel 2
    with pytest.raises(ValueError, match=r"not nan \(at row 5, column 0, channel 1\)"):
        fingerprint(image)


def test_a_large_image_is_hashed_in_little_memory():
    image = np.random.default_rng(3).integers(0, 256, size=(2000, 3000, 3), dtype=np.uint8)  # 6 megapixels, 18 MB
    tracemalloc.start()
    try:
        fingerprint(image)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Read whole, it took 8 bytes a pixel per channel and more (about 230 MB); a strip at a time, a few MiB.
    assert peak < 16 * 2**20, peak
