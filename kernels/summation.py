"""NumPy's pairwise summation in Numba: sums of products in the order NumPy sums a contiguous float64
array (its ``pairwise_sum``), so that a kernel's sums are NumPy's to the bit.

Helpers of the drivers of :mod:`gpuimg.kernels.hull`, :mod:`gpuimg.kernels.moments` and
:mod:`gpuimg.kernels.autocorrelation`, compiled into (and cached with) each driver that calls them; no
driver of its own. :func:`pairwise_product_sum` is called, not inlined: a driver takes up to nine sums,
and inlining each copy of its loops made the first compilation of the IBSI statistics' driver 15 s
long on 2 cores (the demo's first run took 63 s instead of 39 s).
"""

import numba
import numpy as np


@numba.njit(inline="always")
def _block_product_sum(a, b, first, n):
    """``sum(a[k] * b[k])`` over the ``n <= 128`` values from ``first``, as NumPy's ``pairwise_sum`` sums
    such a block: one running sum below 8 values; else 8 of them, combined as ``((r0 + r1) + (r2 + r3))
    + ((r4 + r5) + (r6 + r7))``, and the values past the last multiple of 8 added after."""
    if n < 8:
        total = 0.0
        for k in range(first, first + n):
            total += a[k] * b[k]
        return total
    # Eight scalars, not an array of 8: no allocation for each block (a few thousand rows' sums).
    r0, r1, r2, r3 = (
        a[first] * b[first],
        a[first + 1] * b[first + 1],
        a[first + 2] * b[first + 2],
        a[first + 3] * b[first + 3],
    )
    r4, r5, r6, r7 = (
        a[first + 4] * b[first + 4],
        a[first + 5] * b[first + 5],
        a[first + 6] * b[first + 6],
        a[first + 7] * b[first + 7],
    )
    end = first + n - n % 8
    for k in range(first + 8, end, 8):
        r0 += a[k] * b[k]
        r1 += a[k + 1] * b[k + 1]
        r2 += a[k + 2] * b[k + 2]
        r3 += a[k + 3] * b[k + 3]
        r4 += a[k + 4] * b[k + 4]
        r5 += a[k + 5] * b[k + 5]
        r6 += a[k + 6] * b[k + 6]
        r7 += a[k + 7] * b[k + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for k in range(end, first + n):
        total += a[k] * b[k]
    return total


@numba.njit(inline="always")
def _left_half(n):
    """Where NumPy's ``pairwise_sum`` splits ``n > 128`` values: half of them, less to a multiple of 8."""
    half = n // 2
    return half - half % 8


@numba.njit
def pairwise_product_sum(a, b, n):
    """``sum(a[k] * b[k])`` over ``k < n``, summed as NumPy sums a contiguous float64 array (its
    ``pairwise_sum``): blocks of up to 128 values (:func:`_block_product_sum`), each sum above that the
    sum of its two halves (:func:`_left_half`). Its recursion as a loop over a stack of halves (Numba's
    on-disk cache crashes on recursive functions): at most 64 levels, a half of 2**63 values."""
    if n <= 128:  # one block: no stack of halves to allocate
        return _block_product_sum(a, b, 0, n)
    first, size = np.empty(64, np.int64), np.empty(64, np.int64)
    left, on_left = np.empty(64), np.zeros(64, np.bool_)
    top = 0
    first[0], size[0] = 0, n
    while True:
        while size[top] > 128:  # down to the first block of this half
            on_left[top] = True
            first[top + 1], size[top + 1] = first[top], _left_half(size[top])
            top += 1
        value = _block_product_sum(a, b, first[top], size[top])
        while True:  # up: a left half done starts its right one; a right one done adds its left
            if top == 0:
                return value
            top -= 1
            if on_left[top]:
                on_left[top] = False
                left[top] = value
                half = _left_half(size[top])
                first[top + 1], size[top + 1] = first[top] + half, size[top] - half
                top += 1
                break
            value = left[top] + value
