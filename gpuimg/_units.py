"""The unit rule: a parameter's name says its unit.

A plain name (``sigma``, ``size``, ``radius``) is in voxels whatever the input (an array or a
Volume); the same name ending in ``_mm`` (``sigma_mm``, ``radius_mm``) is in mm and is divided by
the voxel spacing, a Volume's own or ``spacing=``. A function takes one or the other, never both.

Examples
--------
>>> from gpuimg._units import voxels
>>> voxels("sigma", None, 2.0, (2.0, 0.5, 0.5), 3)
(1.0, 4.0, 4.0)
>>> voxels("sigma", 1.5, None, None, 3)
(1.5, 1.5, 1.5)
"""

import math

import numpy as np

from gpuimg._support import host_values, refuse_bool, shown
from gpuimg.errors import ParameterError


def voxels(
    name: str, value, value_mm, spacing, ndim: int, *, default=None, allow_zero: bool = False
) -> tuple[float, ...]:
    """``name`` [voxels] or ``name_mm`` [mm] (divided by ``spacing``) as one size per axis [voxels].

    Parameters
    ----------
    name : str
        The plain parameter name; its mm twin is ``name + "_mm"``.
    value : float or sequence of float [voxels] or None
    value_mm : float or sequence of float [mm] or None
    spacing : float or sequence of float [mm] or None
        Voxel spacing per axis (a Volume's own where the function got a Volume).
    ndim : int
    default : float [voxels], optional
        Used when neither is given; without a default, one of the two must be.
    allow_zero : bool
        Whether 0 is a valid size (no smoothing).

    Raises
    ------
    ParameterError
        Both given, neither given without a default, ``name_mm`` without a spacing, a value that
        is not finite and positive (or zero where allowed), one number or one per axis, or a
        ``name_mm`` of more voxels than a float holds.
    """
    if value is not None and value_mm is not None:
        raise ParameterError(
            f"give {name} (voxels) or {name}_mm (mm), not both; got {name}={shown(value)}, "
            f"{name}_mm={shown(value_mm)}."
        )
    if value_mm is None:
        if value is None:
            if default is None:
                raise ParameterError(f"give {name} (voxels) or {name}_mm (mm).")
            value = default
        return _sizes(name, value, ndim, allow_zero)
    if spacing is None:
        raise ParameterError(
            f"{name}_mm={value_mm!r} needs the voxel spacing: pass spacing= (mm per axis), "
            f"a Volume, or {name} in voxels."
        )
    sizes = _sizes(f"{name}_mm", value_mm, ndim, allow_zero)
    steps = _sizes("spacing", spacing, ndim, allow_zero=False)
    in_voxels = tuple(s / d for s, d in zip(sizes, steps, strict=True))
    if not all(math.isfinite(v) for v in in_voxels):  # 1e300 mm at 1e-300 mm: beyond the largest float
        raise ParameterError(
            f"{name}_mm={shown(value_mm)} at spacing={shown(spacing)} mm is more than 1.8e308 voxels; "
            "check that both are in mm."
        )
    return in_voxels


def _sizes(name, value, ndim, allow_zero):
    sign = "non-negative" if allow_zero else "positive"
    # True would be 1 voxel (or mm), a flag given for a size
    refuse_bool(value, name, f"{sign} and finite, one number or one per axis ({ndim})")
    values = np.atleast_1d(host_values(value))
    try:
        if any(isinstance(v, str | bytes) for v in values.ravel()):  # "2" would convert, as SciPy refuses it
            raise TypeError
        numbers = tuple(float(v) for v in values) if values.ndim == 1 else ()
    except (TypeError, ValueError):
        numbers = ()
    ok = len(numbers) in (1, ndim) and all(
        math.isfinite(v) and (v > 0 or (allow_zero and v == 0)) for v in numbers
    )
    if not ok:
        raise ParameterError(
            f"{name}={shown(value)} must be {sign} and finite, one number or one per axis ({ndim})."
        )
    return numbers * (ndim if len(numbers) == 1 else 1)
