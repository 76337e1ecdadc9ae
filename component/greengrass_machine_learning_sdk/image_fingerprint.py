"""`fingerprint(image)`: the 64-bit difference hash (dHash) the feedback request's `Fingerprint` carries.

numpy is imported when an image is hashed, never when the SDK is imported (a device
may run the SDK without numpy).
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
    if kind == "f":
        for k, (_, channel) in enumerate(weighted):
            bad = np.argwhere(~np.isfinite(channel))
            if len(bad):
                row, column = (int(i) for i in bad[0])
                where = f"row {row}, column {column}" + (f", channel {k}" if image.ndim == 3 else "")
                raise ValueError(f"fingerprint() takes finite values, not {channel[row, column]} (at {where})")

    # Every used value is an integer n times a common 2**q, cut into limbs of `bits` bits, so that
    # every sum below fits in an int64 (|sum| < 9 * 1000 * 2**bits * H * W <= 2**63).
    bits = min(48, 49 - (height * width).bit_length())
    limbs = _limbs(np, [channel for _, channel in weighted], bits)
    cells = [[0] * COLUMNS for _ in range(ROWS)]
    for k, limb in enumerate(limbs):
        gray = sum(weight * part for (weight, _), part in zip(weighted, limb, strict=True))
        sums = _area_sums(np, _area_sums(np, gray, ROWS).T, COLUMNS).T
        for r in range(ROWS):
            for c in range(COLUMNS):
                cells[r][c] += int(sums[r, c]) << (bits * k)

    value = 0
    for r in range(ROWS):
        for c in range(COLUMNS - 1):
            value = (value << 1) | (cells[r][c] < cells[r][c + 1])
    from ml_feedback.messages import format_fingerprint

    return format_fingerprint(value)


def _area_sums(np: Any, values: Any, cells: int) -> Any:
    """Along axis 0: each of `cells` cells' integral of `values` (int64), in units where a pixel is `cells` long.

    Pixel i covers [cells*i, cells*(i+1)) and cell k covers [n*k, n*(k+1)): every cell is n long, so the
    integrals compare as the means. Each is F(end) - F(start), F(x) the integral up to x, from prefix sums.
    """
    n = values.shape[0]
    prefix = np.zeros((n + 1, *values.shape[1:]), dtype=np.int64)
    np.cumsum(values, axis=0, out=prefix[1:])
    whole, part = np.divmod(n * np.arange(cells + 1, dtype=np.int64), cells)  # part is 0 where whole == n
    integral = cells * prefix[whole] + part[:, None] * values[np.minimum(whole, n - 1)]
    return integral[1:] - integral[:-1]


def _limbs(np: Any, channels: list[Any], bits: int) -> list[list[Any]]:
    """limbs[k][channel], int64 arrays: each channel's values as integers n = x / 2**q (one q for all),
    in base 2**bits, least significant limb first, the sign in every limb: n = sum(limbs[k] * 2**(bits*k))."""
    if channels[0].dtype.kind != "f":
        channels = [channel.astype(np.uint8) if channel.dtype.kind == "b" else channel for channel in channels]
        low, high = min(int(c.min()) for c in channels), max(int(c.max()) for c in channels)
        if max(-low, high) < 1 << bits:  # 8- and 16-bit images, mostly
            return [[channel.astype(np.int64) for channel in channels]]
        magnitudes = []
        for channel in channels:
            if channel.dtype == np.uint64:
                magnitudes.append(channel)
            else:
                wide = channel.astype(np.int64).astype(np.uint64)  # a negative x wraps to 2**64 + x
                # Negated in uint64 (~u + 1 is 2**64 - u): the most negative int64 has no int64 opposite.
                magnitudes.append(np.where(channel < 0, ~wide + np.uint64(1), wide))
        signs = [np.sign(channel).astype(np.int64) for channel in channels]
        return _split(np, magnitudes, signs, bits)

    # |x| = mantissa * 2**exponent, the mantissa a 53-bit integer; q is the lowest set bit of any value.
    signs, mantissas, exponents = [], [], []
    low = high = None
    for channel in channels:
        fraction, exponent = np.frexp(channel.astype(np.float64))
        mantissa = np.abs(np.ldexp(fraction, 53))
        exponent = exponent.astype(np.int64) - 53
        nonzero = mantissa != 0
        if nonzero.any():
            whole = mantissa[nonzero].astype(np.int64)
            trailing = np.frexp((whole & -whole).astype(np.float64))[1] - 1  # zero bits at the mantissa's bottom
            lowest, highest = int((exponent[nonzero] + trailing).min()), int(exponent[nonzero].max()) + 53
            low, high = (lowest, highest) if low is None else (min(low, lowest), max(high, highest))
        signs.append(np.sign(channel).astype(np.int64))
        mantissas.append(mantissa)
        exponents.append(exponent)
    if low is None:  # all zero
        return [[np.zeros(channel.shape, dtype=np.int64) for channel in channels]]
    if high - low <= 64:  # n < 2**64: exact in uint64 (all but images mixing very large and very small values)
        magnitudes = [np.ldexp(m, e - low).astype(np.uint64) for m, e in zip(mantissas, exponents, strict=True)]
        return _split(np, magnitudes, signs, bits)
    limbs = []
    for k in range(-(-(high - low) // bits)):
        # floor(|x| / 2**(q + bits*k)) mod 2**bits, in float64 (exact); shifts past either end give 0 and are clipped.
        limbs.append(
            [
                sign * np.fmod(np.floor(np.ldexp(m, np.clip(e - low - bits * k, -60, bits))), float(1 << bits)).astype(np.int64)
                for m, e, sign in zip(mantissas, exponents, signs, strict=True)
            ]
        )
    return limbs


def _split(np: Any, magnitudes: list[Any], signs: list[Any], bits: int) -> list[list[Any]]:
    top = max(int(m.max()) for m in magnitudes).bit_length()
    mask = np.uint64((1 << bits) - 1)
    return [
        [sign * ((m >> np.uint64(bits * k)) & mask).astype(np.int64) for m, sign in zip(magnitudes, signs, strict=True)]
        for k in range(max(1, -(-top // bits)))
    ]
