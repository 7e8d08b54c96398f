"""The values marching cubes and marching squares cannot interpolate: NaN voxels and infinite ones.

scikit-image places a crossing of the level on a voxel edge from value ``a`` to ``b`` at
``(level - a) / (b - a)``: NaN where either is NaN, and where ``a`` is infinite (``inf / inf``).
"""

import itertools
import math
import warnings

import numpy as np

from gpuimg._arrays import roi_voxels
from gpuimg.errors import ParameterError


def check_nan_voxels(host: np.ndarray, mask: np.ndarray | None, step: int, gradient_direction: str) -> None:
    """Refuse NaN voxels among those marching cubes reads, before anything is allocated for the mesh.

    scikit-image's Lewiner marching cubes reads the corners of its cubes alone, the voxels whose
    indices are multiples of ``step`` (up to ``(n - 1) // step`` cubes along an axis of ``n``), and
    with a mask only the corners of the cubes whose last corner ``(z+s, y+s, x+s)`` the mask holds.
    A NaN corner counts as below the level in the cube's configuration, and the crossing on each of
    its edges that the configuration places is NaN: NaN vertices, whose area and volume are NaN.
    NaN voxels it does not read (between the samples of a step, or away from the masked cubes) are
    no concern.
    """
    if host.dtype.kind != "f":
        return
    cubes = [(n - 1) // step for n in host.shape]
    corners = host[tuple(slice(0, k * step + 1, step) for k in cubes)]  # a view: no copy
    with np.errstate(invalid="ignore"):
        if not np.isnan(corners.min()):  # min propagates NaN: one pass, nothing allocated
            return
    read = np.isnan(corners)
    if mask is not None:
        marched = roi_voxels(mask[tuple(slice(step, k * step + 1, step) for k in cubes)])
        of_a_cube = np.zeros(read.shape, dtype=bool)
        for dz, dy, dx in itertools.product((0, 1), repeat=3):
            of_a_cube[dz : dz + cubes[0], dy : dy + cubes[1], dx : dx + cubes[2]] |= marched
        read &= of_a_cube
    count = int(np.count_nonzero(read))
    if count == 0:
        return
    finite = host[np.isfinite(host)]
    if finite.size == 0:  # left to the caller, which says there is no finite value
        return
    first = tuple(int(i) * step for i in np.argwhere(read)[0])
    outside, side = (finite.min(), "lowest") if gradient_direction == "descent" else (finite.max(), "highest")
    where = " inside the mask" if mask is not None else ""
    fill = f"{float(outside):g}"
    raise ParameterError(
        f"the volume holds {count} NaN voxel(s) that marching cubes reads{where} (the corners of its "
        f"cubes), the first at (z, y, x) = {first}: the surface's vertices next to them would be NaN, "
        "and so its area and volume. Replace them first with a value outside the surface, e.g. "
        f"np.nan_to_num(volume, nan={fill}) (the {side} finite value, for gradient_direction="
        f"{gradient_direction!r}; of a Volume, dataclasses.replace(volume, data=np.nan_to_num(volume.data, "
        f"nan={fill})), which keeps its spacing), or pass a mask that leaves out the cubes around them (a "
        "cube is read where the mask holds its last corner, (z+s, y+s, x+s) for a step s)."
    )


def check_default_level(host: np.ndarray, name: str, *, ignore_nan: bool) -> None:
    """Refuse scikit-image's default level, the middle of ``host``'s range, where it is not a number.

    scikit-image takes ``(min + max) / 2`` for marching cubes, NaN-aware (``nanmin``, ``nanmax``) for
    marching squares. With NaN voxels (where not ignored) or infinite ones that level is NaN or
    infinite, and scikit-image finds no surface, or at ``-inf`` one of NaN points only (its
    interpolation's ``-inf - -inf``). A host without any finite value is left to the caller.
    """
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):  # an all-NaN host; -inf + inf
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = (np.nanmin(host), np.nanmax(host)) if ignore_nan else (host.min(), host.max())
        default = 0.5 * (float(low) + float(high))
    if math.isfinite(default):
        return
    finite = host[np.isfinite(host)]
    if finite.size == 0:
        return
    low, high = float(finite.min()), float(finite.max())
    units = "voxels" if name == "volume" else "pixels"
    if ignore_nan:  # np.clip keeps the NaNs, which marching squares leaves out
        formula, which = f"(np.nanmin({name}) + np.nanmax({name})) / 2", "infinite"
        fix = f"e.g. np.clip({name}, {low:g}, {high:g})"
    else:
        formula, which = f"({name}.min() + {name}.max()) / 2", "NaN or infinite"
        fix = f"voxels next to a NaN get NaN vertices; e.g. np.nan_to_num({name}, nan={low:g}, "
        fix += f"posinf={high:g}, neginf={low:g})"
    raise ParameterError(
        f"the {name} holds {which} {units}, so the default level, scikit-image's {formula}, is "
        f"{default}: pass a level between its finite values {low:g} and {high:g}, or replace those "
        f"{units} first ({fix})."
    )


def infinite_as_far(host: np.ndarray) -> np.ndarray:
    """``host``, its infinite pixels (if any) made finite values beyond every level, NaN kept.

    scikit-image interpolates a crossing from pixel value ``a`` to ``b`` at ``(level - a) / (b - a)``,
    NaN where ``a`` is infinite (``inf / inf``). At ``-+max / 4`` it is the limit, for levels and values
    below 1e290: exactly 1 from that end, and 0 towards it within ``|level - a| / 4e307`` pixels; no
    difference of two such values overflows.
    """
    if host.dtype.kind != "f" or not np.isinf(host).any():
        return host
    far = np.finfo(np.float64).max / 4
    return np.clip(host.astype(np.float64), -far, far)


def check_finite_mesh(
    source: np.ndarray, host: np.ndarray, mesh: tuple, level: float, spacing, step: int
) -> None:
    """Refuse scikit-image's mesh where a vertex or its normal is not a number: infinite voxels next to it.

    ``host`` is the float32 volume scikit-image read, ``source`` the volume before that conversion.
    Lewiner's vertex on an edge weighs each end by ``1 / |value - level|``: 0 for an infinite end, so the
    vertex sits at the finite end (the interpolation's limit), but NaN for an edge from ``-inf`` to
    ``+inf``. Its normal adds each end's gradient times that weight, the gradient taken within the
    cube: an infinite voxel makes its neighbours' gradients infinite and its own ``0 * inf``, so the
    vertices of a cube the surface crosses at an infinite voxel get NaN normals. Their limit depends
    on how fast each infinite voxel's value grows, which the volume does not say: refused, as NaN
    voxels are. The same weights overflow float32 for finite values some ``1e23`` apart next to a voxel
    at the level.
    """
    vertices, _, normals, _ = mesh
    bad = ~(np.isfinite(vertices).all(axis=1) & np.isfinite(normals).all(axis=1))
    count = int(np.count_nonzero(bad))
    if count == 0:
        return
    # The voxel next to the first bad vertex (its cube, a step around it) that is infinite in float32.
    placed = bad & np.isfinite(vertices).all(axis=1)
    infinite = np.isinf(host)
    first = None
    if not placed.any():  # only NaN vertices: edges from -inf to +inf
        first = tuple(int(i) for i in np.argwhere(infinite)[0])
    else:
        at = vertices[np.argmax(placed)] / np.asarray(spacing)
        low = [max(int(np.floor(c)) - step, 0) for c in at]
        window = tuple(slice(a, int(np.ceil(c)) + step + 1) for a, c in zip(low, at, strict=True))
        near = np.argwhere(infinite[window])
        if near.size:
            nearest = near[np.argmin(((near + low - at) ** 2).sum(axis=1))] + low
            first = tuple(int(i) for i in nearest)
    finite = np.isfinite(host)
    lo = float(np.min(host, where=finite, initial=np.inf))
    hi = float(np.max(host, where=finite, initial=-np.inf))
    if first is None:  # finite values whose weighted gradients overflow float32
        raise ParameterError(
            f"marching cubes gives {count} of the mesh's {len(vertices)} vertices a normal that is not a "
            f"number: the volume's values (from {lo:g} to {hi:g}) are too large for scikit-image's float32 "
            "normals next to voxels at the level. Rescale the volume and the level first (e.g. divide both "
            "by 1e20)."
        )
    beyond = ""
    if np.isfinite(source[first]):
        beyond = f" ({float(source[first]):g} there: infinite in float32, scikit-image's precision)"
    # Finite values on each infinity's side of the level: +inf above it, -inf at or below it.
    high = hi if hi > level else level + max(1.0, abs(level))
    low_fill = min(lo, level)
    clip = f"np.clip(volume, {low_fill:g}, {high:g})"
    raise ParameterError(
        f"the volume holds {int(np.count_nonzero(infinite))} infinite voxel(s), and the surface at level="
        f"{level:g} passes next to some, e.g. (z, y, x) = {first}{beyond}: there {count} of the mesh's "
        f"{len(vertices)} vertices get a normal (or position) that is not a number, since marching cubes "
        "weighs the gradient of the voxels around each vertex, infinite next to them. Replace them first "
        f"with finite values on their side of the level, e.g. {clip} (of a Volume, dataclasses.replace("
        f"volume, data={clip.replace('volume', 'volume.data')}), which keeps its spacing), or pass a mask "
        "that leaves out the cubes around them (a cube is read where the mask holds its last corner)."
    )
