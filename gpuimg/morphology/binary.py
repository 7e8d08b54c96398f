"""Erosion, dilation, opening and closing with physical footprints: binary for bool images, grey otherwise."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from gpuimg._arrays import check_ndim
from gpuimg._memory import check_bytes
from gpuimg._support import check_choice, check_cval, check_mode, check_window, shown
from gpuimg._units import voxels
from gpuimg.backend import is_dask, map_stencil, namespace
from gpuimg.errors import ParameterError
from gpuimg.kernels import boundary
from gpuimg.volume import Volume, accepts_volume

Image = ArrayLike | Volume
Spacing = float | Sequence[float] | None

FOOTPRINTS = ("ball", "cube", "cross")


def footprint(
    shape: str,
    radius: float | Sequence[float] | None = None,
    *,
    radius_mm: float | Sequence[float] | None = None,
    spacing: Spacing = None,
    ndim: int = 3,
) -> np.ndarray:
    """The footprint of ``shape`` and radius ``radius`` [voxels] or ``radius_mm`` [mm], as a bool array.

    Parameters
    ----------
    shape : {"ball", "cube", "cross"}
    radius : float or sequence of float [voxels], optional
        One for all axes or one per axis; default 1 voxel. Give this or ``radius_mm``.
    radius_mm : float or sequence of float [mm], optional
        The same in mm: ``radius_mm / spacing[a]`` voxels along axis ``a``; needs ``spacing``.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``radius_mm``.
    ndim : {2, 3}
        The number of axes, as the image's that :func:`erode`, :func:`dilate`, :func:`opening` and
        :func:`closing` take.

    Raises
    ------
    ParameterError
        For an unknown shape; both ``radius`` and ``radius_mm``; ``radius_mm`` without a spacing; a radius
        that is negative or not finite, or not one per axis; a spacing that is not positive; an ``ndim``
        other than 2 or 3.
    MemoryBudgetError
        Where building the footprint (17 bytes a voxel of its box) would exceed the memory budget.

    Notes
    -----
    With ``r_a`` the radius along axis ``a`` in voxels, an offset ``o`` (voxels) belongs to the
    footprint when ``sum((o_a / r_a) ** 2) <= 1`` ("ball": a sphere in mm when the radius is in
    mm), ``max |o_a| / r_a <= 1`` ("cube"), or it lies along one axis with ``|o_a| <= r_a``
    ("cross"). The array has ``2 * floor(r_a) + 1`` voxels along axis ``a``; the centre always
    belongs.

    Examples
    --------
    >>> footprint("ball", radius_mm=2.0, spacing=(2.0, 1.0, 1.0)).shape
    (3, 5, 5)
    >>> int(footprint("ball", 1).sum())  # the 6-neighbourhood and the centre
    7
    """
    check_choice(shape, FOOTPRINTS, "footprint")
    if isinstance(ndim, bool | np.bool_) or not isinstance(ndim, int | np.integer) or ndim not in (2, 3):
        raise ParameterError(
            f"ndim={shown(ndim)} must be 2 or 3: the number of axes of the image the footprint is for "
            "(erode, dilate, opening and closing take 2D and 3D images)."
        )
    radii = voxels("radius", radius, radius_mm, spacing, ndim, default=1.0, allow_zero=True)
    sides = [2 * math.floor(r + 1e-9) + 1 for r in radii]
    check_bytes(
        _BUILD_BYTES * math.prod(sides),
        f"the footprint {shape!r} of {' x '.join(map(str, sides))} voxels "
        f"({'radius' if radius_mm is None else 'radius_mm'}; a smaller one needs less)",
    )
    if shape == "cube":
        return np.ones(sides, dtype=bool)
    grids = _offsets(radii)
    if shape == "ball":
        return sum((g / r) ** 2 if r > 0 else 0 * g for g, r in zip(grids, radii, strict=True)) <= _IN
    return sum((g != 0).astype(np.int8) for g in grids) <= 1


#: Bytes a voxel of a footprint's box takes while it is built: the bool result and two float64
#: temporaries of the ball's broadcast sum.
_BUILD_BYTES = 17


def _offsets(radii):
    """The integer offsets [voxels] of the box of ``floor(r_a)`` voxels either side of the centre, one
    broadcastable grid per axis (NumPy's sparse ``meshgrid``)."""
    half = [math.floor(r + 1e-9) for r in radii]
    return np.meshgrid(*(np.arange(-h, h + 1) for h in half), indexing="ij", sparse=True)


def _footprint(image, shape, radius, radius_mm, spacing):
    """The footprint array: ``shape`` itself where it is an array (scikit-image's habit), else built."""
    ndim = np.ndim(image)
    if isinstance(shape, str):
        return footprint(shape, radius, radius_mm=radius_mm, spacing=spacing, ndim=ndim)
    if radius is not None or radius_mm is not None:
        raise ParameterError(
            "footprint is an array, so radius and radius_mm are not used; pass one or the other."
        )
    fp = np.asarray(namespace(shape).xp.asnumpy(shape) if hasattr(shape, "get") else shape)
    if fp.ndim != ndim or fp.dtype.kind not in "biuf" or not fp.any():
        raise ParameterError(
            f"footprint must be one of {list(FOOTPRINTS)} or a {ndim}D array of 0/1 (or bool) with a "
            f"non-zero voxel, like the image; got shape {fp.shape}, dtype {fp.dtype}."
        )
    return fp.astype(bool)


def _morph(image, op, shape, radius, radius_mm, spacing, mode, cval, passes):
    check_ndim(image, (2, 3))
    check_mode(mode)
    check_cval(cval)
    fp = _footprint(image, shape, radius, radius_mm, spacing)
    dtype = np.dtype(image.dtype)
    binary = dtype.kind == "b"
    ball = None
    if binary and isinstance(shape, str) and shape == "ball":
        ball = voxels("radius", radius, radius_mm, spacing, fp.ndim, default=1.0, allow_zero=True)
    # A named footprint's work per voxel is bounded where it grows with the footprint (an array given
    # is the caller's to size, as in SciPy).
    if isinstance(shape, str) and _path(namespace(image).device, fp, ball) == "window":
        check_window(fp.shape, "radius" if radius_mm is None else "radius_mm")

    def run(chunk):
        ns = namespace(chunk)
        structure = ns.xp.asarray(fp)
        if binary:
            return _binary(ns, op, chunk, structure, mode, cval, ball)
        if dtype.kind == "f":
            _refuse_nan(ns, chunk, op)
        return getattr(ns.ndi, f"grey_{op}")(chunk, footprint=structure, mode=mode, cval=cval)

    if is_dask(image):
        depth = passes * max(fp.shape) // 2
        periodic = boundary.MODES[mode] == boundary.WRAP
        return map_stencil(run, image, depth=depth, periodic=periodic, dtype=dtype)
    return run(image)


def _refuse_nan(ns, chunk, op: str) -> None:
    """Refuse a float image (or a Dask chunk of it, with its halo) holding NaN: SciPy's and cupyx's
    minimum and maximum of a window with NaN depend on the order its voxels are compared, so the result
    is neither NaN nor the extreme of the other voxels."""
    nan = ns.xp.isnan(chunk)
    if bool(nan.any()):
        raise ParameterError(
            f"the image holds {int(nan.sum())} NaN voxels (in this chunk, for a Dask array): grey {op} "
            "takes the minimum or maximum of each footprint's window, and SciPy's of a window holding "
            "NaN depends on the order of its voxels (it is neither NaN nor the extreme of the others). "
            "Replace them first with a value that suits the image, e.g. np.where(np.isnan(image), "
            "-1024.0, image) for CT voxels outside the field of view."
        )


#: SciPy's name of each mode -> NumPy's ``pad`` mode that extends an array the same way.
_PAD_MODES = {
    "reflect": "symmetric",
    "grid-mirror": "symmetric",
    "mirror": "reflect",
    "nearest": "edge",
    "wrap": "wrap",
    "grid-wrap": "wrap",
    "constant": "constant",
    "grid-constant": "constant",
}
_PASSES = {
    "erosion": ("erosion",),
    "dilation": ("dilation",),
    "opening": ("erosion", "dilation"),
    "closing": ("dilation", "erosion"),
}


def _binary(ns, op, mask, structure, mode, cval, ball):
    """Binary ``op`` of a bool ``mask``, the voxels past its edges given by ``mode`` and ``cval`` as in
    grey morphology (scikit-image's rule for bool images): each pass of SciPy's binary operation on
    the mask padded by the footprint's half-width, then cropped, so that its own border (nothing
    outside) never reaches the result. Equal to ``grey_{op}`` of the mask, at binary morphology's speed
    (the grey operations take twice as long for a ball of radius 3).

    ``ball`` is the ball's radii [voxels] where ``structure`` is :func:`footprint`'s ball, else None:
    on the CPU a ball of :data:`_EDT_FROM` voxels or more goes through the distance transform
    (:func:`_ball_erosion`), and a box of odd sides (the footprint "cube", or an array of ones) through
    SciPy's minimum and maximum filters, one axis at a time; neither's time grows with the footprint.
    SciPy's binary operations first tabulate ``(voxels of the footprint's box) x (voxels of the
    footprint)`` offsets (8 bytes each, 19 GB for a ball of radius 20 voxels), which is checked
    against the memory budget."""
    if mask.size == 0:  # nothing to pad: NumPy's pad refuses an empty axis in every mode but "constant"
        return mask.copy()
    half = [n // 2 for n in structure.shape]
    crop = tuple(slice(h, h + n) for h, n in zip(half, mask.shape, strict=True))
    pad_mode = _PAD_MODES[mode]
    # SciPy's grey operations take cval into the minimum or maximum and cast the result to bool, which
    # truncates: the border is foreground from cval 1 on (cval=-1024, air in HU, is background).
    extra = {"constant_values": float(cval) >= 1} if pad_mode == "constant" else {}
    path = _path(ns.device, structure, ball)
    for step in _PASSES[op]:
        padded = ns.xp.pad(mask, [(h, h) for h in half], mode=pad_mode, **extra)
        if path == "edt":
            mask = _ball_erosion(ns, padded if step == "erosion" else ~padded, ball, half, mask.shape)
            mask = mask if step == "erosion" else ~mask
            continue
        if path == "box":  # a box's erosion is the minimum over it, one axis at a time
            extreme = ns.ndi.minimum_filter if step == "erosion" else ns.ndi.maximum_filter
            mask = extreme(padded, size=structure.shape)[crop]
            continue
        if ns.device == "cpu":  # SciPy's table of offsets (NI_InitFilterOffsets), before it allocates it
            cells = math.prod(min(n, f) for n, f in zip(padded.shape, structure.shape, strict=True))
            check_bytes(
                8 * cells * int(structure.sum()),
                f"binary {step} by a footprint of {' x '.join(map(str, structure.shape))} voxels "
                "(SciPy's table of its offsets; a smaller radius or radius_mm, or the footprint 'ball' "
                "or 'cube', needs less)",
            )
        mask = getattr(ns.ndi, f"binary_{step}")(padded, structure=structure)[crop]
    return mask


def _path(device: str, fp, ball) -> str:
    """How a footprint is applied, by what its time grows with: "edt" (a bool image's ball of
    :data:`_EDT_FROM` voxels or more on the CPU, by the distance transform) and "box" (a box of odd
    sides on the CPU: SciPy's minimum and maximum filters, one axis at a time, for grey images too)
    take time linear in the image's voxels whatever the footprint; "window" (any other) visits the
    footprint's box at every voxel, which :func:`gpuimg._support.check_window` bounds."""
    if device != "cpu":
        return "window"
    if ball is not None and int(fp.sum()) >= _EDT_FROM and _edt_exact(ball):
        return "edt"
    return "box" if bool(fp.all()) and all(n % 2 for n in fp.shape) else "window"


#: The fewest voxels of a ball that the distance transform erodes and dilates by (on the CPU): SciPy's
#: binary erosion is faster below, the transform above (benchmarks/bench_morphology_ball.py).
_EDT_FROM = 300
#: The footprint's tolerance: an offset is in the ball when its ``sum((o_a / r_a) ** 2) <= _IN``.
_IN = 1 + 1e-9
#: A bound on the error of SciPy's float64 transform in that sum, for picking the nearest voxel.
_EDT_ERROR = 1e-10


def _edt_exact(radii):
    """Whether the transform gives the footprint exactly: no zero radius (a flat ball), and no axis
    where the box of ``floor(r_a)`` voxels cuts off an offset that the sum admits."""
    return all(r > 0 and ((math.floor(r + 1e-9) + 1) / r) ** 2 > _IN for r in radii)


def _ball_erosion(ns, padded, radii, half, shape):
    """Erosion of the bool array ``padded`` by the ball of ``radii`` [voxels], cropped by ``half`` to
    ``shape``: a voxel stays when the nearest background voxel (SciPy's exact Euclidean feature
    transform, in units of the radii) lies outside the ball, by :func:`footprint`'s sum on its
    integer offset. Where the transform's rounding could have picked a voxel just outside the ball
    over one just inside, the offsets of the ball's outer shell are checked one by one."""
    xp = ns.xp
    crop = tuple(slice(h, h + n) for h, n in zip(half, shape, strict=True))
    if bool(padded.all()):
        return xp.ones(shape, dtype=bool)
    check_bytes(
        (4 * padded.ndim + 9) * padded.size + 24 * math.prod(shape),
        f"the distance transform of a mask of {' x '.join(map(str, padded.shape))} voxels (padded)",
    )
    nearest = ns.ndi.distance_transform_edt(
        padded, sampling=[1 / r for r in radii], return_distances=False, return_indices=True
    )
    total = 0
    for axis, (r, h, n) in enumerate(zip(radii, half, shape, strict=True)):
        index = xp.arange(h, h + n).reshape([-1 if a == axis else 1 for a in range(len(shape))])
        total = total + ((nearest[axis][crop] - index) / r) ** 2
    del nearest
    keep = total > _IN
    unsure = xp.nonzero(keep & (total <= _IN + _EDT_ERROR))
    shell = _shell(radii) if unsure[0].size else ()
    if len(shell):
        hit = xp.zeros(unsure[0].shape, dtype=bool)
        for offset in shell:
            at = tuple(i + h + int(o) for i, h, o in zip(unsure, half, offset, strict=True))
            hit |= ~padded[at]
        keep[unsure] = ~hit
    return keep


def _shell(radii):
    """The offsets of the ball whose sum lies within the transform's error of the boundary."""
    total = sum((g / r) ** 2 for g, r in zip(_offsets(radii), radii, strict=True))
    inside = (total <= _IN) & (total > _IN - _EDT_ERROR)
    return np.argwhere(inside) - [math.floor(r + 1e-9) for r in radii]


_DOC = """{summary}

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask) or Volume, 2D or 3D
        Bool for binary morphology, any other dtype for grey morphology (``scipy.ndimage.grey_{op}``).
    footprint : {{"ball", "cube", "cross"}} or array
        The footprint's shape (see :func:`footprint` for the rule), or the footprint itself: an
        array of 0/1 (or bool) with the image's number of axes, as in scikit-image
        (``np.ones((3, 3, 3))``).
    radius : float or sequence of float [voxels], optional
        The footprint's radius; default 1 voxel.
    radius_mm : float or sequence of float [mm], optional
        The radius in mm instead: ``radius_mm / spacing[a]`` voxels along axis ``a``; needs
        ``spacing`` or a Volume.
    spacing : float or sequence of float [mm], optional
        Voxel spacing, for ``radius_mm``; a Volume brings its own.
    mode, cval : as in ``scipy.ndimage``
        The voxels past the image's edges, for binary morphology too (scikit-image's rule for bool
        images): in the default "reflect" mode a mask that touches the image's faces keeps them (with
        a footprint symmetric about its centre, its closing never loses a voxel, its opening keeps a
        box that spans the image);
        ``mode="constant"`` with ``cval=0`` gives ``scipy.ndimage.binary_{op}``, whose border is
        empty, so that masks are eroded from the image's faces. For a bool image the border is
        foreground where ``cval >= 1`` and background below (0.5, or -1024 as for a CT image), as
        SciPy's and scikit-image's grey operations cast it.

    Returns
    -------
    array or Volume
        Of the input's dtype, on its device. Equal to SciPy's ``grey_{op}`` with
        ``footprint(footprint, radius, radius_mm=radius_mm, spacing=spacing)`` (or the array given)
        as footprint, ``mode`` and ``cval``; for a bool image and a footprint symmetric about its
        centre (the named ones, or an array of odd sides equal to itself reversed along every axis)
        also to scikit-image's ``{op}``: scikit-image's dilation and closing do not mirror an
        asymmetric footprint (its note on ``dilation``), and it centres one of even sides otherwise.

    Raises
    ------
    ParameterError
        For an image that is not 2D or 3D; an unknown footprint shape, or a footprint array that is not
        of the image's number of axes or has no non-zero voxel; a footprint array with ``radius`` or
        ``radius_mm``; a radius as :func:`footprint` refuses it; a named footprint whose box has more
        than 2**20 voxels where the work per voxel grows with it (all but the CPU's distance-transform
        and box paths in the Notes); a spacing that differs from the Volume's own; an unknown mode or a
        ``cval`` that is not one real number; a float image holding NaN (SciPy's minimum or maximum of
        a window with NaN depends on the order of its voxels; for a Dask array, when it is computed).
    MemoryBudgetError
        On the CPU, where SciPy's binary operation would tabulate more bytes of footprint offsets than
        the memory budget allows (8 x the voxels of the footprint's box x its own voxels); the
        footprints "ball" from 300 voxels on and "cube" do not need the table; where the distance
        transform's arrays (21 bytes a voxel of the padded mask, 24 of the image) would exceed it; or
        where the footprint could not be built (as :func:`footprint`).

    Notes
    -----
    On the CPU, a bool image's "ball" of 300 voxels or more is applied through SciPy's exact
    Euclidean distance transform in units of the radii, in time linear in the voxels whatever the
    radius: a voxel stays under erosion when its nearest background voxel (past the edges as ``mode``
    says) is outside the ball, by the footprint's rule on its integer offset; dilation is the erosion
    of the complement. Smaller balls, other footprints, flat balls (a zero radius) and CuPy arrays go
    through ``binary_{op}`` (cupyx's on CUDA). A box of odd sides (the footprint "cube", or an array
    of ones) goes through ``minimum_filter`` and ``maximum_filter`` on the CPU, also in linear time.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.morphology import {name}
    >>> mask = np.zeros((7, 7, 7), bool); mask[2:5, 2:5, 2:5] = True
    >>> int({name}(mask, np.ones((3, 3, 3))).sum())
    {example}
    """


def _make(op, summary, passes, example):
    def func(
        image: Image,
        footprint: str | ArrayLike = "ball",
        radius: float | Sequence[float] | None = None,
        *,
        radius_mm: float | Sequence[float] | None = None,
        spacing: Spacing = None,
        mode: str = "reflect",
        cval: float = 0.0,
    ) -> Image:
        return _morph(image, op, footprint, radius, radius_mm, spacing, mode, cval, passes)

    name = {"erosion": "erode", "dilation": "dilate"}.get(op, op)
    func.__name__ = func.__qualname__ = name
    func.__doc__ = _DOC.format(summary=summary, op=op, name=name, example=example)
    return accepts_volume(func)


erode = _make("erosion", "Erosion by a footprint.", 1, 1)
dilate = _make("dilation", "Dilation by a footprint.", 1, 125)
opening = _make("opening", "Opening (erosion, then dilation) by a footprint.", 2, 27)
closing = _make("closing", "Closing (dilation, then erosion) by a footprint.", 2, 27)
