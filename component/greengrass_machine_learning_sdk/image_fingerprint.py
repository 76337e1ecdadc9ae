"""`fingerprint(image)`: the 64-bit difference hash (dHash) the feedback request's `Fingerprint` carries.

numpy is imported when an image is hashed, never when the SDK is imported (a device
may run the SDK without numpy). An image is read a strip of rows at a time, so hashing one
holds a few MiB of work arrays however large the image (a whole 12-megapixel photo in int64
would be 96 MB a channel); the arithmetic is exact, so strips add up to the same hash.
"""

from __future__ import annotations

from typing import Any

ROWS, COLUMNS = 8, 9
LUMA = (299, 587, 114)  # ITU-R BT.601 weights of R, G, B, in thousandths: exact integers


def fingerprint(image: Any) -> str:
    """The 64-bit difference hash (dHash) of a decoded image, as 16 lowercase hex digits.

    `image` is a numpy array of shape (H, W), grayscale, or (H, W, C) with C = 1 to 4 channels
    (gray, gray + alpha, RGB, RGBA), of any size from 1 x 1 up and any integer, bool (0 and 1)
    or floating-point dtype up to float64. Values are taken as they are: no scaling, no gamma.

    The definition, in exact arithmetic (the computation is exact: no rounding anywhere, so
    equal areas compare equal and the result does not depend on the dtype holding the values):

    1. Gray value Y of each pixel: for a 2-D image, or C = 1 or 2, channel 0; for C = 3 or 4,
       Y = 0.299 R + 0.587 G + 0.114 B over channels 0, 1, 2 taken as R, G, B (ITU-R BT.601 luma).
       The alpha channel (C = 2 or 4) is ignored. An OpenCV BGR image is converted first:
       `image[..., 2::-1]`.
    2. Shrink to 9 columns x 8 rows by area averaging. Pixel (i, j) is the unit square
       [j, j+1) x [i, i+1) with value Y[i, j]; cell (r, c), r = 0..7, c = 0..8, is the rectangle
       [c W/9, (c+1) W/9) x [r H/8, (r+1) H/8), and its value P[r, c] is the mean of Y over it:
       each pixel weighted by the area it shares with the cell. Cells may cut pixels anywhere;
       a cell inside one pixel (an image narrower than 9 or lower than 8) takes that pixel's
       value, so a 1 x 1 image gives 72 equal cells.
    3. Bit (r, c), c = 0..7, is 1 when P[r, c] < P[r, c+1] (the cell to the right is strictly
       brighter), else 0 (equal cells give 0).
    4. The hash is the sum of bit(r, c) * 2**(63 - 8r - c): the bits row by row, left to right,
       the first the most significant; written as 16 lowercase hex digits.

    Hence a constant image hashes to '0000000000000000', an image getting strictly brighter
    from left to right (at least 9 pixels wide) to 'ffffffffffffffff'; brightening by a
    positive factor or offset changes nothing; flipping left to right inverts every bit whose
    two cells differ. The comparison and bit order are those of the `imagehash` package's
    dhash; its resampling (PIL's) is not, so the two give different values.

    Example: an 8 x 9 image has one pixel per cell; rows [0, 1, 0, 1, 0, 1, 0, 1, 0] give the
    bits 10101010 (0xaa), rows [0, 1, ..., 8] 11111111 (0xff).

    Raises TypeError for anything but a numpy array of those dtypes, ValueError for another
    shape, an empty image or a NaN or infinity among the values used.
    """
    import numpy as np

    if not isinstance(image, np.ndarray):
        raise TypeError(f"fingerprint() takes a decoded image as a numpy array (numpy.asarray converts one), not {type(image)}")
    image = np.asarray(image)  # a subclass (matrix, masked array) as the plain array of its values
    if image.ndim not in (2, 3):
        raise ValueError(f"fingerprint() takes an image of shape (height, width) or (height, width, channels), not shape {image.shape}")
    if image.ndim == 3 and not 1 <= image.shape[2] <= 4:
        raise ValueError(
            f"fingerprint() takes an image of 1 to 4 channels (gray, gray and alpha, RGB, RGBA), not {image.shape[2]} (shape {image.shape})"
        )
    height, width = image.shape[:2]
    if height == 0 or width == 0:
        raise ValueError(f"fingerprint() takes a non-empty image, not shape {image.shape}")
    kind = image.dtype.kind
    if kind not in "biuf" or (kind == "f" and image.dtype.itemsize > 8):
        raise TypeError(
            f"fingerprint() takes an image of integers, booleans or floating-point numbers up to float64, not dtype {image.dtype}"
        )

    weighted: list[tuple[int, Any]]
    if image.ndim == 2:
        weighted = [(1, image)]
    elif image.shape[2] < 3:
        weighted = [(1, image[..., 0])]
    else:
        weighted = [(weight, image[..., k]) for k, weight in enumerate(LUMA)]
    channels = [channel for _, channel in weighted]
    strips = _strips(height, width)
    if kind == "f":
        for k, channel in enumerate(channels):
            for start, stop in strips:
                bad = np.argwhere(~np.isfinite(channel[start:stop]))
                if len(bad):
                    row, column = int(bad[0][0]) + start, int(bad[0][1])
                    where = f"row {row}, column {column}" + (f", channel {k}" if image.ndim == 3 else "")
                    raise ValueError(f"fingerprint() takes finite values, not {channel[row, column]} (at {where})")

    # Every used value is an integer n times a common 2**q, cut into limbs of `bits` bits, so that
    # every sum below fits in an int64 (|sum| < 9 * 1000 * 2**bits * H * W <= 2**63).
    bits = min(48, 49 - (height * width).bit_length())
    limbs = _Limbs(np, channels, bits, strips)
    # The image is read a strip of rows at a time, so that what is held at once does not grow with it
    # (a 12-megapixel photo in int64 is 96 MB a channel): for each limb, each strip adds its rows' share
    # of the 8 cell rows (exact integers), and the 9 cell columns are then taken of those 8 rows.
    rows = [np.zeros((ROWS, width), dtype=np.int64) for _ in range(limbs.count)]
    for start, stop in strips:
        strip = limbs.strip([channel[start:stop] for channel in channels])
        for k, total in enumerate(rows):
            gray = sum(weight * part for (weight, _), part in zip(weighted, strip.limb(k), strict=True))
            total += _area_sums(np, gray, ROWS, start, height)
    cells = [[0] * COLUMNS for _ in range(ROWS)]
    for k, total in enumerate(rows):
        sums = _area_sums(np, total.T, COLUMNS).T
        for r in range(ROWS):
            for c in range(COLUMNS):
                cells[r][c] += int(sums[r, c]) << (bits * k)

    value = 0
    for r in range(ROWS):
        for c in range(COLUMNS - 1):
            value = (value << 1) | (cells[r][c] < cells[r][c + 1])
    from ml_feedback.messages import format_fingerprint

    return format_fingerprint(value)


STRIP_PIXELS = 1 << 17  # pixels read at once: each int64 array of a strip is 1 MiB, whatever the image's size


def _strips(height: int, width: int) -> list[tuple[int, int]]:
    """Row ranges [start, stop) of about STRIP_PIXELS pixels each (at least one row)."""
    step = max(1, STRIP_PIXELS // width)
    return [(start, min(start + step, height)) for start in range(0, height, step)]


def _area_sums(np: Any, values: Any, cells: int, start: int = 0, total: int | None = None) -> Any:
    """Along axis 0: each of `cells` cells' integral of `values` (int64), in units where a pixel is `cells` long.

    `values` are pixels start, start + 1, ... of `total` (all of them by default): the integrals are of those
    pixels' shares, which add up over the strips of an image to the integrals over the whole of it.
    Pixel i covers [cells*i, cells*(i+1)) and cell k covers [n*k, n*(k+1)), n = total: every cell is n long,
    so the integrals compare as the means. Each is F(end) - F(start), F(x) the integral up to x, from prefix sums.
    """
    count = values.shape[0]
    n = count if total is None else total
    prefix = np.zeros((count + 1, *values.shape[1:]), dtype=np.int64)
    np.cumsum(values, axis=0, out=prefix[1:])
    whole, part = np.divmod(n * np.arange(cells + 1, dtype=np.int64), cells)  # part is 0 where whole == n
    before = np.clip(whole - start, 0, count)  # the strip's pixels wholly before each cell boundary
    cut = np.where((whole >= start) & (whole < start + count), part, 0)  # the boundary cuts a pixel of the strip
    integral = cells * prefix[before] + cut[:, None] * values[np.clip(whole - start, 0, count - 1)]
    return integral[1:] - integral[:-1]


class _Limbs:
    """How the channels' values become limbs: int64 arrays, each value an integer n = x / 2**q (one q for the
    whole image) in base 2**bits, least significant limb first, the sign in every limb:
    n = sum(limbs[k] * 2**(bits*k)). What this depends on (q, the number of limbs) is read from the whole image
    here, a strip at a time; `strip` then cuts any strip of the channels into its limbs."""

    def __init__(self, np: Any, channels: list[Any], bits: int, strips: list[tuple[int, int]]) -> None:
        self._np, self._bits = np, bits
        self.floats = channels[0].dtype.kind == "f"
        if not self.floats:
            low = min(int(channel.min()) for channel in channels)
            high = max(int(channel.max()) for channel in channels)
            # One limb, the values themselves, for 8- and 16-bit images, mostly; else limbs cut from |x| in uint64.
            self.by_magnitude = max(-low, high) >= 1 << bits
            self.count = max(1, -(-max(-low, high).bit_length() // bits)) if self.by_magnitude else 1
            return
        # |x| = mantissa * 2**exponent, the mantissa a 53-bit integer; q is the lowest set bit of any value.
        low = high = None
        for start, stop in strips:
            for channel in channels:
                mantissa, exponent = _frexp(np, channel[start:stop])
                nonzero = mantissa != 0
                if nonzero.any():
                    whole = mantissa[nonzero].astype(np.int64)
                    trailing = np.frexp((whole & -whole).astype(np.float64))[1] - 1  # zero bits at the mantissa's bottom
                    lowest, highest = int((exponent[nonzero] + trailing).min()), int(exponent[nonzero].max()) + 53
                    low, high = (lowest, highest) if low is None else (min(low, lowest), max(high, highest))
        self.zero = low is None  # all zero
        self.low = 0 if low is None else low
        span = 0 if high is None or low is None else high - low  # the largest n has `span` bits: 53 + its exponent - q
        self.by_magnitude = span <= 64  # n < 2**64: exact in uint64 (all but images mixing very large and very small values)
        self.count = 1 if self.zero else max(1, -(-span // bits))

    def strip(self, channels: list[Any]) -> _StripLimbs:
        return _StripLimbs(self, channels)


class _StripLimbs:
    """One strip of the channels, cut into limbs on demand (`limb(k)`: one array per channel)."""

    def __init__(self, limbs: _Limbs, channels: list[Any]) -> None:
        np = limbs._np
        self._limbs, self._np = limbs, np
        if not limbs.floats:
            channels = [channel.astype(np.uint8) if channel.dtype.kind == "b" else channel for channel in channels]
            if limbs.by_magnitude:
                self.magnitudes, self.signs = [], []
                for channel in channels:
                    if channel.dtype == np.uint64:
                        self.magnitudes.append(channel)
                    else:
                        wide = channel.astype(np.int64).astype(np.uint64)  # a negative x wraps to 2**64 + x
                        # Negated in uint64 (~u + 1 is 2**64 - u): the most negative int64 has no int64 opposite.
                        self.magnitudes.append(np.where(channel < 0, ~wide + np.uint64(1), wide))
                    self.signs.append(np.sign(channel).astype(np.int64))
            self.channels = channels
            return
        self.channels = channels
        if limbs.zero:
            return
        self.signs, mantissas, exponents = [], [], []
        for channel in channels:
            mantissa, exponent = _frexp(np, channel)
            self.signs.append(np.sign(channel).astype(np.int64))
            mantissas.append(mantissa)
            exponents.append(exponent)
        if limbs.by_magnitude:
            self.magnitudes = [np.ldexp(m, e - limbs.low).astype(np.uint64) for m, e in zip(mantissas, exponents, strict=True)]
        else:
            self.mantissas, self.exponents = mantissas, exponents

    def limb(self, k: int) -> list[Any]:
        np, limbs, bits = self._np, self._limbs, self._limbs._bits
        if limbs.floats and limbs.zero:
            return [np.zeros(channel.shape, dtype=np.int64) for channel in self.channels]
        if limbs.by_magnitude:
            mask = np.uint64((1 << bits) - 1)
            return [
                sign * ((m >> np.uint64(bits * k)) & mask).astype(np.int64) for m, sign in zip(self.magnitudes, self.signs, strict=True)
            ]
        if not limbs.floats:
            return [channel.astype(np.int64) for channel in self.channels]
        # floor(|x| / 2**(q + bits*k)) mod 2**bits, in float64 (exact); shifts past either end give 0 and are clipped.
        return [
            sign * np.fmod(np.floor(np.ldexp(m, np.clip(e - limbs.low - bits * k, -60, bits))), float(1 << bits)).astype(np.int64)
            for m, e, sign in zip(self.mantissas, self.exponents, self.signs, strict=True)
        ]


def _frexp(np: Any, channel: Any) -> tuple[Any, Any]:
    """(mantissa, exponent) of each value, float64 (a 53-bit integer) and int64: |x| = mantissa * 2**exponent."""
    fraction, exponent = np.frexp(channel.astype(np.float64))
    return np.abs(np.ldexp(fraction, 53)), exponent.astype(np.int64) - 53
