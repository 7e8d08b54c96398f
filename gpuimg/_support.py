"""Checks shared by every module: boundary modes, choices, numbers, per-axis sizes and spacings,
Gaussian sigmas, seeds.

As SciPy's ``ndimage._ni_support``: one place for the argument checks that every public function
needs, so that a bad argument gets the same :class:`~gpuimg.errors.ParameterError` (naming the
parameter, its value and what to pass instead) wherever it is given. The checks of the image and
mask arrays themselves (dtypes, axes, shapes, masked arrays) are in :mod:`gpuimg._arrays`, the memory
budget in :mod:`gpuimg._memory`.

Examples
--------
>>> from gpuimg._support import check_mode, check_sizes
>>> check_mode("nearest")
'nearest'
>>> check_sizes(3, 3, "size")
(3, 3, 3)
"""

import math
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from gpuimg.errors import GpuimgError, ParameterError

#: SciPy's boundary modes (``grid-`` aliases included), as every stencil accepts them.
MODES = ("reflect", "grid-mirror", "nearest", "mirror", "wrap", "grid-wrap", "constant", "grid-constant")

#: Most voxels in one filter window (a median footprint, a bilateral neighbourhood): 102³ would be more.
MAX_WINDOW = 2**20
#: Most bins of one histogram (nbins of equalize_hist and clahe).
MAX_BINS = 2**24


def check_choice(value, choices: Iterable[str], name: str, *, hint: str | None = None) -> str:
    """``value`` itself if it is one of the names ``choices``, else a ParameterError listing them
    (or saying ``hint``); a value that is not a string (a list, an array) is refused alike.

    Examples
    --------
    >>> check_choice("sobel", ("sobel", "prewitt"), "operator")
    'sobel'
    """
    if not isinstance(value, str) or value not in choices:
        raise ParameterError(f"{name}={shown(value)} is unknown; {hint or f'use one of {sorted(choices)}'}.")
    return value


def as_names(value, name: str) -> list[str]:
    """``value``, one name or a sequence of names, as a list of names; anything else (a number, an
    array) is a ParameterError. Whether the names are known is the caller's check.

    Examples
    --------
    >>> as_names("glcm", "families"), as_names(("glcm", "ngtdm"), "families")
    (['glcm'], ['glcm', 'ngtdm'])
    """
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable) and not hasattr(value, "shape"):
        names = list(value)
        if all(isinstance(item, str) for item in names):
            return names
    raise ParameterError(f"{name}={shown(value)} must be a name or a sequence of names.")


def shown(value) -> str:
    """``value`` as a message shows it: its repr up to 80 characters, else its kind and shape (an
    image given for a sigma would fill the message with its numbers).

    Examples
    --------
    >>> shown((1.0, 2.0)), shown(np.zeros((20, 30)))
    ('(1.0, 2.0)', 'an array of shape (20, 30)')
    """
    text = repr(value)
    if len(text) <= 80:
        return text
    if isinstance(value, int) and not isinstance(value, bool):  # 10**400: its size, not its digits
        return f"an int of {len(text.lstrip('-'))} digits"
    if hasattr(value, "shape"):
        return f"an array of shape {tuple(value.shape)}"
    items = f" of {len(value)} items" if hasattr(value, "__len__") else ""
    return f"a {_type_name(value)}{items}"


def check_path(path, name: str = "path", what: str = "the file's path") -> Path:
    """``path`` (a str or path-like, not empty) as a Path, else a ParameterError asking for ``what``.

    Examples
    --------
    >>> check_path("ct.nii.gz").name
    'ct.nii.gz'
    """
    if not isinstance(path, str | os.PathLike) or str(path) == "":
        given = shown(path)
        raise ParameterError(f"{name}={given}: pass {what} (str or pathlib.Path).")
    return Path(path)


def _type_name(value) -> str:
    """``module.Class`` of ``value``, its top-level module only (``numpy.ndarray``, ``gpuimg.Volume``)."""
    return f"{type(value).__module__.split('.')[0]}.{type(value).__name__}"


def check_flag(value, name: str) -> bool:
    """``value`` as a bool if it is one (Python's or NumPy's), else a ParameterError: an array or a
    string would be read by its truth value.

    Examples
    --------
    >>> check_flag(np.True_, "normalize")
    True
    """
    if not isinstance(value, bool | np.bool_):
        raise ParameterError(f"{name}={shown(value)} must be True or False.")
    return bool(value)


def check_mode(mode, modes: Sequence[str] = MODES, name: str = "mode") -> str:
    """``mode`` itself if it is one of ``modes``, else a ParameterError listing them.

    Examples
    --------
    >>> check_mode("wrap")
    'wrap'
    """
    return check_choice(mode, modes, name)


def check_cval(cval, name: str = "cval") -> float:
    """``cval`` (the value past the edges in "constant" mode) as a float; NaN and infinities are
    allowed, as in SciPy, and fill the border as given.

    Examples
    --------
    >>> check_cval(-1024)
    -1024.0
    """
    message = f"{name}={cval!r} must be one real number (the value past the edges)."
    if isinstance(cval, str | bytes) or np.ndim(cval) != 0 or np.iscomplexobj(cval):
        raise ParameterError(message)
    try:
        return float(cval)
    except (TypeError, ValueError):
        raise ParameterError(message) from None


def host_values(value) -> np.ndarray:
    """``value`` (numbers given for a parameter) as a NumPy object array; a CuPy array, such as a sigma
    computed on the GPU (``image.std()``, a 0-d device array), is copied to the host explicitly, as
    ``float()`` reads one (NumPy cannot take it: CuPy refuses the implicit copy).

    Examples
    --------
    >>> host_values([1, 2.5]).tolist()
    [1, 2.5]
    """
    cupy = sys.modules.get("cupy")  # not imported for it: CuPy is optional
    if cupy is not None and isinstance(value, cupy.ndarray):
        value = value.get()
    return np.asarray(value, dtype=object)


def per_axis(value, ndim: int, name: str) -> tuple:
    """``value`` repeated for each of ``ndim`` axes, or its ``ndim`` items (not converted).

    Examples
    --------
    >>> per_axis(2, 3, "size")
    (2, 2, 2)
    """
    values = np.atleast_1d(host_values(value))
    if values.ndim != 1 or values.size not in (1, ndim):
        raise ParameterError(f"{name}={shown(value)} must be one number or one per axis ({ndim}).")
    return tuple(values) * (ndim if values.size == 1 else 1)


def check_axis(axis, ndim: int, name: str = "axis") -> int:
    """``axis``, a whole number (negative counts from the end), as an axis of an ``ndim``-D image
    from 0; anything else is a ParameterError: a float, and a bool, which Python would take for
    axis 1 or 0 (NumPy refuses both: "an integer is required").

    Examples
    --------
    >>> check_axis(-1, 3), check_axis(np.int64(1), 2)
    (2, 1)
    """
    if (
        isinstance(axis, bool | np.bool_)
        or not isinstance(axis, int | np.integer)
        or not -ndim <= axis < ndim
    ):
        raise ParameterError(
            f"{name}={shown(axis)} is not an axis of a {ndim}D image; use a whole number from 0 to "
            f"{ndim - 1} (or {-ndim} to -1, from the end)."
        )
    return int(axis) % ndim


def check_sizes(size, ndim: int, name: str, *, limit: int | None = None) -> tuple[int, ...]:
    """Positive whole numbers of voxels, one per axis; each at most ``limit`` where given [voxels].

    Examples
    --------
    >>> check_sizes((1, 3, 3), 3, "size", limit=5)
    (1, 3, 3)
    """
    sizes = per_axis(size, ndim, name)
    if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in sizes):
        raise ParameterError(
            f"{name}={shown(size)} must be a positive whole number of voxels, or one per axis."
        )
    if limit is not None and any(s > limit for s in sizes):
        raise ParameterError(
            f"{name}={size!r} exceeds {limit} voxels on an axis; use a smaller {name} (or downsample first)."
        )
    return tuple(int(s) for s in sizes)


def check_positive(value, ndim: int, name: str) -> tuple[float, ...]:
    """Positive finite floats, one per axis; a bool (Python's or NumPy's) is refused, not taken for 1.

    Examples
    --------
    >>> check_positive(1.5, 2, "sigma")
    (1.5, 1.5)
    """
    values = per_axis(value, ndim, name)
    try:
        # "2" would convert, as SciPy refuses it; True would be 1.0, a flag given for a number
        if any(isinstance(v, str | bytes | bool | np.bool_) for v in values):
            raise TypeError
        values = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        values = ()
    if len(values) != ndim or not all(math.isfinite(v) and v > 0 for v in values):
        raise ParameterError(
            f"{name}={shown(value)} must be positive and finite, one number or one per axis."
        )
    return values


def refuse_bool(value, name: str, must: str, *, error: type[GpuimgError] = ParameterError) -> None:
    """Refuse a bool (Python's or NumPy's; alone, among items or as an array's dtype) given for a
    number: NumPy reads True as 1, so a flag passed where a spacing goes would be 1 mm.

    Examples
    --------
    >>> refuse_bool((2.0, 0.5), "spacing", "numbers")
    >>> refuse_bool(True, "spacing", "numbers")
    Traceback (most recent call last):
    ...
    gpuimg.errors.ParameterError: spacing=True must be numbers, not a bool (True would be read as 1).
    """
    if any(isinstance(v, bool | np.bool_) for v in np.atleast_1d(host_values(value)).ravel()):
        raise error(f"{name}={shown(value)} must be {must}, not a bool (True would be read as 1).")


def random_generator(seed, name: str = "seed", *, why: str = "") -> np.random.Generator:
    """A NumPy Generator of ``seed``: None (fresh entropy), a whole number of at least 0, a Generator
    (itself) or a RandomState (its own bit generator, as later NumPy releases' ``default_rng`` takes
    it; NumPy 2.0's refuses one). Anything else, a bool among them (True would be seed 1), is a
    ParameterError naming ``name``, where NumPy's own message names no parameter; ``why`` (" (it
    seeds ...)") ends it.

    Examples
    --------
    >>> int(random_generator(7).integers(100)) == int(np.random.default_rng(7).integers(100))
    True
    >>> random_generator(-1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gpuimg.errors.ParameterError: seed=-1 must be None, an integer of at least 0, or a ...
    """
    if isinstance(seed, np.random.RandomState):
        return np.random.Generator(seed._bit_generator)
    if isinstance(seed, np.random.Generator | None):
        return np.random.default_rng(seed)
    if isinstance(seed, int | np.integer) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise ParameterError(
        f"{name}={shown(seed)} must be None, an integer of at least 0, or a numpy.random.Generator or "
        f"RandomState{why}."
    )


def check_spacing(spacing, ndim: int, name: str = "spacing") -> tuple[float, ...]:
    """Spacing per axis [mm] as floats; None means 1 (voxel units). A bool is refused, not taken for 1 mm.

    Examples
    --------
    >>> check_spacing(None, 2)
    (1.0, 1.0)
    >>> check_spacing([2, 0.5], 2)
    (2.0, 0.5)
    """
    if spacing is None:
        return (1.0,) * ndim
    refuse_bool(spacing, name, f"one positive number (mm) or one per axis ({ndim})")
    try:
        if isinstance(spacing, str | bytes):  # "1" would convert; numbers read from text are the caller's
            raise TypeError
        values = np.atleast_1d(np.asarray(spacing, dtype=float))
    except (TypeError, ValueError):
        values = np.array([np.nan])
    if values.size == 1:
        values = np.repeat(values, ndim)
    if values.shape != (ndim,) or not all(math.isfinite(v) and v > 0 for v in values):
        raise ParameterError(
            f"{name}={shown(spacing)} must be one positive number (mm) or one per axis ({ndim})."
        )
    return tuple(float(v) for v in values)


def check_window(sizes: Sequence[int], name: str) -> None:
    """Refuse a filter window of more than :data:`MAX_WINDOW` voxels (``sizes`` per axis) [voxels].

    A window longer than the image on an axis is allowed (the boundary mode defines the values it
    reaches, as in SciPy); only the window's voxel count, which sets the work per voxel, is bounded.

    Examples
    --------
    >>> check_window((3, 3, 3), "size")
    """
    count = math.prod(int(s) for s in sizes)
    if count > MAX_WINDOW:
        raise ParameterError(
            f"{name} gives a window of {' x '.join(str(int(s)) for s in sizes)} = {count} voxels, more than "
            f"{MAX_WINDOW}; use a smaller {name} (or downsample the image first)."
        )


def check_gaussian(sigmas: Sequence[float], name: str = "sigma", truncate: float = 4.0) -> None:
    """Refuse a Gaussian whose sampled kernel, ``2 int(truncate sigma + 0.5) + 1`` taps along an axis,
    is longer than :data:`MAX_WINDOW` (a sigma above about 131,000 voxels at ``truncate`` 4): SciPy
    would first allocate its taps, 60 GiB for a sigma of 10⁹.

    Examples
    --------
    >>> check_gaussian((1.0, 2.0, 2.0))
    """
    for sigma in sigmas:
        taps = 2 * int(truncate * sigma + 0.5) + 1
        if taps > MAX_WINDOW:
            raise ParameterError(
                f"{name}={sigma:g} voxels gives a Gaussian kernel of {taps} taps along an axis, more "
                f"than {MAX_WINDOW}; use a smaller {name} (or downsample the image first)."
            )


#: How far SciPy's sampled derivative of a Gaussian may take a unit ramp's slope (order 1), a parabola's
#: curvature or a constant 1's second derivative (order 2) from 1, 1 and 0 before the sigma is refused as
#: giving no derivative (see :func:`check_sampled_gaussian`).
SAMPLING_TOLERANCE = 0.01
#: A sigma [voxels] whose sampled first and second derivatives of a Gaussian are within the tolerance.
_ADVISED_SIGMA = 0.75


def _sampling_errors(sigma: float, order: int) -> list[tuple[str, float, float]]:
    """How SciPy's sampled derivative of order ``order`` of a Gaussian of ``sigma`` voxels differs from
    a derivative, the sampling alone (the kernel left untruncated, at 12 sigma): ``(what, got, exact)``
    for a unit ramp's slope (order 1: got 1 exactly), a parabola's curvature (order 2: 1) and the second
    derivative of a constant 1 (order 2: 0, the kernel's sum)."""
    radius = int(12.0 * sigma + 0.5) + 1
    r = np.arange(-radius, radius + 1, dtype=np.float64)
    if order == 1:
        slope = ndimage.gaussian_filter1d(r, sigma, order=1, truncate=12.0)[radius]
        return [("gives a ramp of slope 1 a slope of", float(slope), 1.0)]
    curvature = ndimage.gaussian_filter1d(r**2, sigma, order=2, truncate=12.0)[radius] / 2.0
    constant = ndimage.gaussian_filter1d(np.ones_like(r), sigma, order=2, truncate=12.0)[radius]
    return [
        ("gives a parabola of curvature 1 a curvature of", float(curvature), 1.0),
        ("gives a constant 1 a second derivative of", float(constant), 0.0),
    ]


def check_sampled_gaussian(sigma_vox, order: int, sigma_mm, spacing, shape, name: str = "sigma") -> None:
    """Refuse a sigma [voxels] so narrow that SciPy's sampled derivative of a Gaussian is no derivative.

    ``sigma_vox`` is one sigma [voxels] per axis, ``order`` the derivative's (1 or 2), ``sigma_mm``
    the value given in mm (None where it was given in voxels), ``spacing`` the voxel spacing [mm] per
    axis (or None), ``shape`` the image's; ``name`` is the parameter (its mm twin ``name + "_mm"``).

    Below about 0.7 voxel the samples of a Gaussian's derivative no longer hold its moments: at 0.5
    voxel the first derivative gives a ramp 0.86 of its slope and the second derivative sums to -0.56,
    not 0, so a constant region gets a Laplacian of -0.56 times its value per voxel² (+560 for air at
    -1000 HU) and a parabola 1.34 times its curvature; at 1/3 voxel (1 mm on 3 mm slices) 0.2, -7.3
    and 0.78. The sampling error falls off fast (about as exp(-2 pi² sigma²)): only sigmas below 1 voxel
    are measured. Along an axis of one voxel (a one-slice volume) resampling gives no more voxels: the
    advice is the image without that axis.
    """
    for axis, sigma in enumerate(sigma_vox):
        if sigma >= 1.0:
            continue
        wrong = [e for e in _sampling_errors(sigma, order) if abs(e[1] - e[2]) > SAMPLING_TOLERANCE]
        if not wrong:
            continue
        what, got, exact = max(wrong, key=lambda e: abs(e[1] - e[2]))
        given = f"{sigma:.3g} voxels"
        advice = f"{name} of at least {_ADVISED_SIGMA} voxels along each axis"
        if sigma_mm is not None and spacing is not None:
            step = spacing[axis]
            given += f" ({name}_mm {sigma * step:g} / spacing {step:g} mm)"
            advice = (
                f"{name}_mm of at least {_ADVISED_SIGMA} times the spacing ({_ADVISED_SIGMA * step:g} mm "
                f"along axis {axis}), or resample the image along that axis to a spacing of at most "
                f"{sigma * step / _ADVISED_SIGMA:g} mm first (gpuimg.preprocess.resample)"
            )
        if shape[axis] == 1:
            without = (
                "image[0] (volume.data[0] for a one-slice Volume)"
                if axis == 0
                else f"np.take(image, 0, axis={axis})"
            )
            advice = (
                f"the image without axis {axis}, which holds one voxel: {without}, with the spacing "
                f"and {name} of the other axes"
            )
        raise ParameterError(
            f"{name} along axis {axis} is {given}: SciPy's sampled derivative of a Gaussian that narrow is "
            f"not a derivative: it {what} {got:.3g}, not {exact:g} (more than "
            f"{SAMPLING_TOLERANCE:g} off). Use {advice}."
        )


def check_bins(nbins, name: str = "nbins") -> int:
    """A whole number of histogram bins from 1 to :data:`MAX_BINS`.

    Examples
    --------
    >>> check_bins(256)
    256
    """
    if not isinstance(nbins, int | np.integer) or isinstance(nbins, bool) or not 1 <= nbins <= MAX_BINS:
        raise ParameterError(f"{name}={nbins!r} must be a positive integer, at most {MAX_BINS} (bins).")
    return int(nbins)


def is_finite(value) -> bool:
    """Whether ``value`` converts to a finite float (False for None, strings of no number, NaN, inf,
    an int beyond float's range such as 10**400) and is not a bool (Python's or NumPy's): True would
    be 1.0, a flag given for a number.

    Examples
    --------
    >>> is_finite(2), is_finite(float("nan")), is_finite(None), is_finite(True), is_finite(10**400)
    (True, False, False, False, False)
    """
    if isinstance(value, bool | np.bool_):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int beyond 1.8e308
        return False


def check_finite(value, name: str, *, low: float = -math.inf, high: float = math.inf) -> float:
    """``value`` as a finite float within ``[low, high]``; a bool is refused (:func:`is_finite`).

    Examples
    --------
    >>> check_finite(25, "bin_width", low=1e-6)
    25.0
    """
    if not (is_finite(value) and low <= float(value) <= high):
        bounds = f" between {low:g} and {high:g}" if math.isfinite(low) or math.isfinite(high) else ""
        raise ParameterError(f"{name}={shown(value)} must be a finite number{bounds}.")
    return float(value)


def caller_level(module_file: str) -> int:
    """The ``stacklevel`` that points a warning at the first frame outside the package folder of
    ``module_file`` (the warning module's ``__file__``): the user's call, for a warning raised by the
    function that calls this, whatever the depth of the package's helpers above it (a fixed level
    cannot serve a check reached at several depths). Python 3.12's ``skip_file_prefixes`` does this."""
    package = os.path.dirname(module_file) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame, level = frame.f_back, level + 1
    return level
