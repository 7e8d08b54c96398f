"""Moran's I and Geary's C of the IBSI morphology: their inverse-distance pair sums (spatial
autocorrelation), by FFT over the intensity mask's box (:func:`_inverse_distance_sums`) or, on the CPU
for small ROIs, pair by pair (:func:`gpuimg.kernels.autocorrelation.inverse_distance_pairs`),
whichever is faster (:func:`_pair_sums`).
"""

from __future__ import annotations

import math

import numpy as np

from gpuimg._memory import UNCHECKED_BYTES, check_bytes
from gpuimg.backend import namespace
from gpuimg.kernels.autocorrelation import (
    PAIRS_TABLE,
    inverse_distance_pairs,
    inverse_distance_pairs_bytes,
    pair_offsets,
)

from ._fft import BYTES_PER_POINT, fft_grid, fft_shape, inner_products, radial_spectrum, spectrum


def _inverse_distance_sums(values, mask, mean, spacing):
    """The inverse-distance pair sums of Moran's I and Geary's C, by FFT over the arrays' box.

    Parameters
    ----------
    values : 3D float64 array [image units]
        The image, best cropped to the mask's bounding box (the work grows with the arrays' size; the
        result does not depend on the crop).
    mask : 3D bool array of ``values``' shape
        The intensity mask, with at least one True voxel.
    mean : float64 scalar (0-d array) [image units]
        The mean of ``values`` over ``mask``.
    spacing : sequence of 3 float [mm]
        Voxel spacing (z, y, x).

    Returns
    -------
    (3,) float64 array on ``values``' device
        Over all ordered pairs ``i != j`` of mask voxels, with ``w_ij = 1 / |p_i - p_j|`` [1/mm] and
        ``d_i = g_i - mean``: ``W = sum w_ij``, ``sum w_ij d_i d_j`` and ``sum w_ij (d_i - d_j)^2``.

    Notes
    -----
    On the arrays' box of shape ``n``, with ``m`` the mask as 0/1 and ``a = d m`` (0 outside
    the mask), and ``K`` the kernel ``1 / |offset|`` [1/mm] over the offsets ``-(n - 1) .. n - 1`` with
    ``K(0) = 0`` (so ``i = j`` is left out)::

        W = sum m (K * m),   sum w d_i d_j = sum a (K * a),
        sum w (d_i - d_j)^2 = 2 sum a^2 (K * m) - 2 sum a (K * a)

    where ``*`` is linear convolution (``K`` is symmetric, so it is also the correlation). The
    convolutions are circular over a grid of ``L >= 2 n - 1`` voxels per axis (the next 5-smooth
    length), on which no offset of two box voxels wraps onto another, and each sum is taken in the
    frequency domain (Parseval: ``sum f (K * g) = sum conj(F) K G / P``), so four forward FFTs
    (``K``, ``m``, ``a``, ``a^2``) and no inverse: exact up to FFT rounding, of the order of
    ``1e-16 log(P)`` of the terms' magnitude. Geary's sum is written with the deviations
    ``a``, not the intensities, so that its two terms do not cancel more than the data make them.

    Time ``O(P log P)`` for ``P = prod(L) ~ 8 prod(n)`` voxels of the padded grid (four real FFTs of
    it). Memory, on the arrays' device: the kernel's real spectrum (``4 P`` bytes, kept) and, per
    convolution, the padded input, its spectrum, the FFT's intermediate copies and the output (``8 P``
    bytes each): about ``40 P`` bytes at the peak (measured with NumPy), about 320 bytes per voxel of
    the bounding box: 95 MB for a 100 x 100 x 30 box, 8.6 GB for a 300 x 300 x 300 box. With CuPy,
    cuFFT's work area comes on top, of the order of one more ``8 P``.
    """
    ns = namespace(values)
    xp = ns.xp
    m = mask.astype(xp.float64)
    a = xp.where(mask, values - mean, 0.0)  # not "* m": a NaN outside the ROI stays out
    grid = fft_shape(
        m.shape,
        [n - 1 for n in m.shape],
        f"Moran's I and Geary's C over the intensity mask's box of {tuple(m.shape)} voxels (morphology; "
        "a coarser new_spacing needs less)",
    )
    kernel = radial_spectrum(ns, grid, spacing, _inverse_distance, cache=True)
    m_hat, a_hat, a2_hat = spectrum(ns, xp.stack([m, a, a * a]), grid)
    sum_w, sum_moran, sum_a2_km = inner_products(
        ns, kernel, grid, [(m_hat, m_hat), (a_hat, a_hat), (a2_hat, m_hat)]
    )
    return xp.stack([sum_w, sum_moran, 2.0 * (sum_a2_km - sum_moran)])


#: The times [us] that :func:`_pair_sums` weighs, on one thread of a 2-core x86_64 machine with
#: AVX-512: an unordered pair of :func:`gpuimg.kernels.autocorrelation.inverse_distance_pairs` and an
#: offset of its table (least squares over the least of 7 runs on each of the demo cohort's 200 ROIs);
#: :func:`_inverse_distance_sums`, a fixed part and a part per point of its grid, and the memory
#: budget's reading of the machine's memory, which its check of more than UNCHECKED_BYTES adds (the
#: least of 9 over the demo cohort's ROIs and balls, cubes and slabs of 10 to 2000 voxels at
#: densities 0.2 to 1).
_PAIR_US, _OFFSET_US = 0.33e-3, 1.5e-3
_FFT_US, _FFT_POINT_US, _BUDGET_READ_US = 50.0, 0.0115, 250.0


def _pair_sums(values, mask, mean, n: int, spacing):
    """Moran's and Geary's sums of the ``n`` voxels of ``mask``, pair by pair
    (:func:`gpuimg.kernels.autocorrelation.inverse_distance_pairs`, ``O(n^2)``) or by FFT
    (:func:`_inverse_distance_sums`, ``O(P log P)`` for ``P ~ 8`` voxels of the box), whichever the
    times measured (:data:`_PAIR_US`) say is faster: pair by pair below about 900 voxels in any box
    (a cube of them, the least box), below about 2200 in boxes of 3 voxels for 1 (the demo cohort's);
    by FFT on CUDA, and where the pairs' table of the box's offsets is large
    (:data:`~gpuimg.kernels.autocorrelation.PAIRS_TABLE`). The arguments as
    :func:`_inverse_distance_sums`'."""
    shape = mask.shape
    offsets = pair_offsets(shape)
    if namespace(values).xp is np and offsets <= PAIRS_TABLE:
        points = math.prod(fft_grid(shape, [s - 1 for s in shape]))
        checked = BYTES_PER_POINT * points > UNCHECKED_BYTES
        pairs = _PAIR_US * n * (n - 1) / 2 + _OFFSET_US * offsets
        if pairs < _FFT_US + _FFT_POINT_US * points + _BUDGET_READ_US * checked:
            check_bytes(
                inverse_distance_pairs_bytes(n, shape),
                f"Moran's I and Geary's C over {n} voxels in a box of {shape}, pair by pair,",
            )
            return inverse_distance_pairs(values, mask, mean, spacing)
    return _inverse_distance_sums(values, mask, mean, spacing)


def _inverse_distance(squares):
    """``1 / d`` [1/mm] of squared distances ``d^2``, 0 at distance 0 (a voxel is not its own neighbour)."""
    inverse = squares.copy()
    inverse[inverse == 0] = 1.0
    inverse **= -0.5
    inverse[squares == 0] = 0.0
    return inverse
