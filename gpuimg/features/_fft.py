"""Convolution with a kernel that depends only on the distance [mm], by FFT on the array's device.

The transforms are the device's (``Namespace.fft``: threaded ``scipy.fft`` on the CPU, cuFFT on
CUDA; :func:`spectrum` prunes its own on the CPU, from ``scipy.fft``'s 1-D transforms). The local
intensity peak (a 1 cm^3 sphere) and Moran's I and Geary's C (inverse distances) are such convolutions.
The kernel is laid on a circular grid at least ``n + reach`` voxels long per axis, so that no offset
within ``reach`` wraps onto a voxel of the input: the circular convolution then equals the linear one
with zeros outside the input, up to FFT rounding (about 1e-16 times log of the size, relative to the
terms).
"""

import functools
import math

import numpy as np
import scipy.fft

from gpuimg._memory import check_bytes
from gpuimg.backend.namespaces import fft_workers

#: Bytes per point of the circular grid that a convolution's (or inner product's) arrays take at their
#: peak: the padded input, its spectrum, the kernel's, the FFT's copies (measured with NumPy: 30 for
#: the local intensity, 40 for Moran's I; cuFFT's work area comes on top).
BYTES_PER_POINT = 40


def fft_shape(shape, reach, what: str) -> tuple[int, ...]:
    """The circular grid for inputs of ``shape`` and kernel offsets up to ``reach`` voxels per axis:
    ``n + reach`` rounded up to a length whose real FFT is fast (5-smooth).

    Raises
    ------
    MemoryBudgetError
        If the convolutions over the grid would exceed the memory budget; ``what`` names them (and
        what sets their size) for the message.
    """
    grid = fft_grid(shape, reach)
    check_bytes(BYTES_PER_POINT * math.prod(grid), f"{what}, by FFT over a grid of {grid} points,")
    return grid


def fft_grid(shape, reach) -> tuple[int, ...]:
    """:func:`fft_shape`'s grid, without its memory check."""
    return tuple(
        scipy.fft.next_fast_len(int(n) + int(r), real=True) for n, r in zip(shape, reach, strict=True)
    )


def radial_spectrum(ns, grid, spacing, weight, *, cache: bool = False):
    """The real spectrum of the kernel ``weight(d^2)`` on the circular ``grid``, ``d`` the distance [mm].

    Index ``k`` along an axis of length ``L`` stands for the offset ``k`` if ``k <= L // 2`` and
    ``k - L`` otherwise, so the kernel is even and its spectrum real (only the real part is kept).
    ``weight`` maps the squared distances (a float64 array, 0 at offset 0) to the kernel's values.

    ``cache=True`` (for a module-level ``weight``) keeps the spectra of grids of up to
    :data:`_CACHED_POINTS` points, the last :data:`_CACHED_SPECTRA` of them, on the host: a cohort's
    ROIs of one spacing come back to the same few grids. The result is then read-only.
    """
    if cache and math.prod(grid) <= _CACHED_POINTS:
        host = _host_spectrum(tuple(int(n) for n in grid), tuple(float(s) for s in spacing), weight)
        return host if ns.xp is np else ns.xp.asarray(host)
    return _spectrum(ns.xp, ns.fft, grid, spacing, weight)


#: Largest grid [points] whose kernel spectrum is cached (8 bytes a point of the half spectrum: 1 MiB).
_CACHED_POINTS = 2**18
#: Spectra kept.
_CACHED_SPECTRA = 64


@functools.lru_cache(maxsize=_CACHED_SPECTRA)
def _host_spectrum(grid, spacing, weight):
    spectrum = _spectrum(np, scipy.fft, grid, spacing, weight)
    spectrum.setflags(write=False)
    return spectrum


def _spectrum(xp, fft, grid, spacing, weight):
    squares = 0.0
    for axis, (length, step) in enumerate(zip(grid, spacing, strict=True)):
        k = xp.arange(length, dtype=xp.float64)
        offset = xp.where(k <= length // 2, k, k - length) * step
        squares = squares + (offset * offset).reshape([-1 if a == axis else 1 for a in range(len(grid))])
    return xp.ascontiguousarray(fft.rfftn(weight(squares)).real)


def convolve(ns, image, spectrum, grid):
    """``image`` (zero outside) convolved with the kernel of ``spectrum`` on ``grid``, ``image``'s shape."""
    axes = tuple(range(image.ndim))
    product = ns.fft.rfftn(image, grid, axes=axes)
    product *= spectrum
    return ns.fft.irfftn(product, grid, axes=axes)[tuple(slice(0, n) for n in image.shape)]


def spectrum(ns, image, grid):
    """The real FFT of ``image`` (zero outside) on ``grid``; of each along the first axis where
    ``image`` has one more axis than ``grid`` (a stack of images transformed in one call).

    On the CPU the transform is pruned: the 1-D transforms run axis by axis in the order of
    ``scipy.fft.rfftn`` (the last axis real, then the others from the first), each only over the
    lines that the input's zero padding has not left zero, so that a grid about twice the input's
    length per axis takes about half the work (0.46 -> 0.27 ms for the demo cohort's Moran's I).
    The skipped lines are zeros, which the full transform turns into exact zeros, so the spectrum
    is bit for bit ``rfftn``'s. CUDA runs ``rfftn`` (cuFFT plans the whole grid at once).
    """
    lead = image.ndim - len(grid)
    if ns.xp is not np:
        return ns.fft.rfftn(image, grid, axes=tuple(range(lead, image.ndim)))
    workers = fft_workers(math.prod(grid))
    result = scipy.fft.rfft(image, grid[-1], axis=-1, workers=workers)
    for axis, length in enumerate(grid[:-1]):
        result = scipy.fft.fft(result, length, axis=lead + axis, overwrite_x=True, workers=workers)
    return result


def inner_products(ns, kernel, grid, pairs) -> list:
    """``sum f (K * g)`` over the grid for each pair of spectra ``(F, G)`` of ``pairs`` (Parseval), no
    inverse FFT.

    ``sum_x f(x) (K * g)(x) = (1 / P) sum_k conj(F_k) K_k G_k`` over the ``P`` points of the full
    spectrum; the real FFT holds half of it, so the bins the other half mirrors count twice (their
    weights ``2 K``, formed once for all pairs; doubling is exact, so each sum is as with ``K`` first).
    """
    xp = ns.xp
    last = grid[-1]
    twice = xp.full(last // 2 + 1, 2.0)
    twice[0] = 1.0
    if last % 2 == 0:
        twice[-1] = 1.0
    weights = kernel * twice
    points = math.prod(grid)
    return [((f_hat.conj() * g_hat).real * weights).sum() / points for f_hat, g_hat in pairs]
