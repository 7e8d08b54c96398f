"""Iso-surfaces and iso-contours: marching cubes (3D), marching squares (2D) and mesh measures.

:func:`marching_cubes` and :func:`find_contours` give scikit-image's results exactly: on the CPU
they are scikit-image's ``measure.marching_cubes`` (Lewiner) and ``measure.find_contours`` (but for
the normals of an anisotropic grid, made normals in mm, see :func:`marching_cubes`). cuCIM has
neither, so on CUDA the input is copied to the host once (with a one-time warning), processed with
scikit-image, and the mesh or contours are copied back to the input's device. The mesh measures
:func:`mesh_surface_area` and :func:`mesh_volume` are array arithmetic on the mesh's own device
(:func:`gpuimg.contours.binary_mesh_measures` gives both for the surface of a binary mask without
building its mesh).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import skimage.measure
from numpy.typing import ArrayLike

from gpuimg._arrays import as_image, roi_voxels
from gpuimg._support import check_choice, check_flag, check_spacing
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import DeviceError, ParameterError
from gpuimg.volume import Volume, accepts_volume

from ._host import to_host
from ._values import check_default_level, check_finite_mesh, check_nan_voxels, infinite_as_far

#: The values of :func:`marching_cubes`' ``gradient_direction``.
_DIRECTIONS = ("descent", "ascent")
#: ``fully_connected`` / ``positive_orientation`` values of :func:`find_contours`.
_LOW_HIGH = ("low", "high")


@accepts_volume
def marching_cubes(
    volume: ArrayLike | Volume,
    level: float | None = None,
    *,
    spacing: Sequence[float] | None = None,
    gradient_direction: str = "descent",
    step_size: int = 1,
    allow_degenerate: bool = True,
    mask: ArrayLike | None = None,
) -> tuple:
    """Triangle mesh of the iso-surface ``volume == level`` (Lewiner marching cubes).

    Parameters
    ----------
    volume : array (NumPy, CuPy or Dask) or Volume, 3D (z, y, x), at least 2 voxels per axis
        A Dask array is computed first (the surface is a whole-volume result).
    level : float [image units, e.g. HU], optional
        The iso-value; default the middle of the volume's range.
    spacing : sequence of 3 float [mm], optional
        Voxel spacing (z, y, x); the vertices are in these units. Default: a Volume's own spacing
        (another one given with a Volume is refused), else 1 (voxel units).
    gradient_direction : {"descent", "ascent"}
        Whether the object is brighter ("descent") or darker ("ascent") than its surroundings; it
        sets the faces' orientation, as in scikit-image.
    step_size : int [voxels]
        Step between sampled voxels; larger is coarser and faster.
    allow_degenerate : bool
        Whether to keep triangles of zero area.
    mask : array or Volume of the volume's shape, optional
        Non-zero (of any dtype) where the surface is wanted, read as scikit-image reads it: the cube
        of voxels ``z..z+s, y..y+s, x..x+s`` (``s`` the step size) is processed where the mask is
        non-zero at its last voxel ``(z+s, y+s, x+s)``, whatever its other seven. So the surface
        reaches one cube past the mask on its low side along each axis (not on its high side), and
        the mask's first plane along each axis is never read (scikit-image issue #8202); it is not
        limited to cubes wholly inside, as :func:`find_contours`' mask is to squares wholly inside.

    Returns
    -------
    vertices : (V, 3) float array [mm]
        In (z, y, x) order, voxel index times spacing (not patient coordinates). float32, but float64
        where a spacing other than (1, 1, 1) scales them and degenerate triangles are kept (as
        scikit-image gives them).
    faces : (F, 3) int array
        Vertex indices of each triangle.
    normals : (V, 3) float32 array
        Unit normal at each vertex, towards lower values (minus the volume's gradient, whatever the
        ``gradient_direction``, as in scikit-image), in mm: the gradient per voxel divided by the
        spacing, axis by axis, so perpendicular to the mesh in mm.
    values : (V,) float32 array
        The volume's local maximum near each vertex, as in scikit-image (infinite next to an infinite
        voxel).

    All four on the input's device.

    Raises
    ------
    ParameterError
        For a volume that is not 3D or has an axis shorter than 2, a level that is not a number
        inside the volume's range, no level given for a volume with NaN or infinite voxels (whose
        default level is not a number), a bad spacing (or, with a Volume, one other than its own),
        direction or mask, an ``allow_degenerate`` that is not True or False, or a step size that is
        not a whole number from 1 to the shortest axis's length less 1. With a level given, for NaN
        voxels among those marching cubes reads, and infinite voxels next to the surface (see Notes).
    GeometryError
        If ``mask`` is a Volume on another grid than a Volume ``volume`` (spacing, origin or direction).
    DeviceError
        If ``mask`` is on the GPU and the volume on the CPU (a CPU mask goes with a GPU volume).

    Notes
    -----
    Equal to ``skimage.measure.marching_cubes(volume, level, spacing=spacing, method="lewiner",
    ...)``, but for the normals with an anisotropic spacing: scikit-image scales the vertices by the
    spacing and leaves the normals those of the grid in voxel units, not perpendicular to its mesh
    (on a sphere of 20 mm in voxels of 3 x 0.5 x 1 mm, 28 degrees off the radius on average, 48 at
    most; 0.9 and 4.1 here); here they are scikit-image's divided by the spacing and made unit
    again, along the gradient in mm (a normal scales by the inverse of what scales the positions).
    A spacing equal on the three axes leaves them scikit-image's.

    NaN voxels are refused where marching cubes reads them: the corners of its cubes, the voxels at
    multiples of ``step_size`` along each axis, and with a mask only those of the cubes it processes.
    scikit-image counts a NaN corner as below the level and puts NaN vertices (and normals) on its
    edges that cross it, so the mesh's area and volume come out NaN. Replace them with a value on the
    surface's outside (``np.nan_to_num``) or leave their cubes out with the mask; NaN voxels that
    are not read (between the samples of a step, or only in cubes the mask leaves out) change nothing.
    Infinite voxels are refused where the surface passes next to them, after the mesh: scikit-image
    puts a vertex on an edge from an infinite voxel at its finite end (the interpolation's limit), but
    weighs the gradients within each cube, infinite there, so the normals around them are NaN (and a
    vertex on an edge from -inf to +inf too); their limit depends on how fast each infinite value
    grows, which the volume does not say. Clip them to finite values on their side of the level
    (``np.clip``, as the message gives it); finite values some 1e23 apart next to a voxel at the level
    overflow those float32 normals and are refused too. Infinite voxels the surface does not pass (the
    ``-inf`` of a log map's zero inside a lesion) change nothing, but a vertex's value is infinite
    where its cube holds one.
    On CUDA the volume goes to the host and back (cuCIM has no marching cubes); the first call warns
    about that transfer.

    References
    ----------
    T. Lewiner, H. Lopes, A. W. Vieira, G. Tavares, "Efficient implementation of marching cubes'
    cases with topological guarantees", Journal of Graphics Tools 8(2), 2003.

    Examples
    --------
    >>> import numpy as np
    >>> z, y, x = np.mgrid[-10:11, -10:11, -10:11]
    >>> verts, faces, normals, values = marching_cubes(np.sqrt(x**2 + y**2 + z**2), 8.0)
    >>> round(float(mesh_surface_area(verts, faces)) / (4 * np.pi * 8.0**2), 2)
    1.0
    """
    ns = namespace(volume)
    shape = np.shape(volume)
    if len(shape) != 3 or min(shape) < 2:
        raise ParameterError(f"the volume must be 3D with at least 2 voxels per axis; got shape {shape}.")
    spacing = check_spacing(spacing, 3)
    if not isinstance(step_size, (int, np.integer)) or step_size < 1:
        raise ParameterError(f"step_size={step_size!r} must be a whole number of voxels, 1 or more.")
    if step_size > min(shape) - 1:  # one sample along an axis: scikit-image finds no cube, "no surface"
        raise ParameterError(
            f"step_size={step_size!r} leaves one sample along the shortest axis of a volume of shape "
            f"{shape}, so no cube to march through: use at most {min(shape) - 1} voxels."
        )
    check_choice(gradient_direction, _DIRECTIONS, "gradient_direction", hint="use 'descent' or 'ascent'")
    # scikit-image reads it by its truth value: 'False' (a config's text) kept the degenerate triangles.
    allow_degenerate = check_flag(allow_degenerate, "allow_degenerate")
    _check_mask(mask, shape, ns)
    level = _level(level)
    host, host_mask = to_host(ns, "marching_cubes", volume, mask)
    source = host
    if level is not None:  # without one, a NaN voxel makes the default level NaN: refused below
        check_nan_voxels(host, host_mask, int(step_size), gradient_direction)
    # scikit-image works on C-contiguous float32 and its Cython refuses a read-only buffer (a memory
    # map, a Deferred read): converted here, where it would copy anyway, and copied only when read-only.
    # A float64 value beyond float32's range becomes infinite there, without NumPy's warning: the
    # infinite voxels' check names it where the surface passes it, and elsewhere it changes nothing.
    with np.errstate(over="ignore"):
        host = np.require(host, np.float32, ("C", "W"))
    if level is None:
        check_default_level(host, "volume", ignore_nan=False)
    try:
        mesh = skimage.measure.marching_cubes(
            host,
            level,
            spacing=spacing,
            gradient_direction=gradient_direction,
            step_size=int(step_size),
            allow_degenerate=allow_degenerate,
            method="lewiner",
            mask=None if host_mask is None else roi_voxels(host_mask),
        )
    except ValueError as exc:
        # scikit-image checks the level against the volume's range (one pass we do not repeat).
        low, high = float(np.nanmin(host)), float(np.nanmax(host))
        if level is None or low <= level <= high:  # not the range check
            raise
        raise ParameterError(
            f"level={level!r} is outside the volume's range [{low}, {high}]; pick a value inside it."
        ) from exc
    except RuntimeError as exc:  # within the range, but no voxel edge crosses it (in the mask)
        finite = host[np.isfinite(host)]
        if finite.size == 0:
            raise ParameterError("the volume holds no finite value: there is no surface to find.") from exc
        low, high = float(finite.min()), float(finite.max())
        # A default level that is not a number was refused above: here the volume is finite.
        shown = f"level={level!r}" if level is not None else f"the default level {0.5 * (low + high):g}"
        where = " inside the mask" if host_mask is not None else ""
        raise ParameterError(
            f"no surface crosses {shown}{where} (the volume's values run from {low:g} to {high:g}): "
            "pick a level strictly between two of its values."
        ) from exc
    check_finite_mesh(source, host, mesh, level, spacing, int(step_size))
    vertices, faces, normals, values = mesh
    mesh = vertices, faces, _normals_in_mm(normals, spacing), values
    return tuple(ns.xp.asarray(a) for a in mesh)


def mesh_surface_area(vertices: ArrayLike, faces: ArrayLike):
    """Total area of a triangle mesh [mm², in the vertices' units squared].

    Parameters
    ----------
    vertices : (V, 3) array
        As returned by :func:`marching_cubes`, on either device.
    faces : (F, 3) int array
        Vertex indices of each triangle.

    Returns
    -------
    float scalar (0-d array on the mesh's device)
        Half the sum of ``|(v0 - v1) x (v0 - v2)|`` over the faces, as
        ``skimage.measure.mesh_surface_area``.

    Raises
    ------
    ParameterError
        For vertices that are not (V, 3), faces that are not (F, 3) integers, or a face index that
        is not one of the vertices' (below 0 or V or above; NumPy would take a negative one from
        the end).
    DeviceError
        For faces on the GPU with vertices on the CPU (faces on the CPU go to the vertices' GPU).

    Examples
    --------
    A tetrahedron with three 3 mm legs along x, y and z: three right triangles of 4.5 mm² and an
    equilateral one of side 3 sqrt(2) mm, ``(sqrt(3) / 4) 18`` mm²:

    >>> import numpy as np
    >>> from gpuimg.contours import mesh_surface_area
    >>> vertices = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    >>> faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    >>> area = float(mesh_surface_area(vertices, faces))
    >>> round(area, 6), round(3 * 4.5 + 3**0.5 / 4 * 18, 6)
    (21.294229, 21.294229)
    """
    a, b = _edges(vertices, faces)
    xp = namespace(a).xp
    return xp.sqrt((_cross(a, b) ** 2).sum(axis=1)).sum() / 2.0


def mesh_volume(vertices: ArrayLike, faces: ArrayLike):
    """Volume enclosed by a closed, consistently oriented triangle mesh [mm³].

    Parameters
    ----------
    vertices : (V, 3) array
        As returned by :func:`marching_cubes` (a surface that does not touch the volume's edge is
        closed), on either device.
    faces : (F, 3) int array
        Vertex indices of each triangle, all wound the same way.

    Returns
    -------
    float scalar (0-d array on the mesh's device)
        ``|sum of v0 . (v1 x v2)| / 6`` over the faces: the divergence theorem applied to the
        tetrahedra that each face spans with the origin. Either winding gives the same value.
        For an open mesh the result depends on the origin and has no meaning.

    Raises
    ------
    ParameterError, DeviceError
        As :func:`mesh_surface_area`.

    Examples
    --------
    A tetrahedron with three 3 mm legs along x, y and z encloses ``3 * 3 * 3 / 6`` mm³, whichever
    way its faces are wound:

    >>> import numpy as np
    >>> from gpuimg.contours import mesh_volume
    >>> vertices = np.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 3.0]])
    >>> faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    >>> float(mesh_volume(vertices, faces)), float(mesh_volume(vertices, faces[:, ::-1]))
    (4.5, 4.5)
    """
    a, b = _edges(vertices, faces)
    xp = namespace(a).xp
    v = xp.asarray(vertices, dtype=xp.float64)
    f = xp.asarray(faces)
    # v0 . (v1 x v2) = v0 . ((v1 - v0) x (v2 - v0)); centred on the mean vertex to limit cancellation.
    v0 = v[f[:, 0]] - v.mean(axis=0)
    return abs((v0 * _cross(a, b)).sum()) / 6.0


def find_contours(
    image: ArrayLike,
    level: float | None = None,
    fully_connected: str = "low",
    positive_orientation: str = "low",
    *,
    mask: ArrayLike | None = None,
) -> list:
    """Iso-contours ``image == level`` of a 2D image (marching squares).

    Parameters
    ----------
    image : array (NumPy, CuPy or Dask), 2D (rows, columns), at least 2 x 2
        2D only, so not a Volume (a Volume is 3D): pass one of its slices, ``volume.data[k]``.
        A Dask array is computed first.
    level : float [image units, e.g. HU], optional
        The iso-value; default the middle of the image's range.
    fully_connected : {"low", "high"}
        Whether pixels below ("low") or above ("high") the level are 8-connected in ambiguous
        saddle squares.
    positive_orientation : {"low", "high"}
        Whether contours wind anticlockwise around pixels below ("low") or above ("high") the level.
    mask : bool array of the image's shape, optional
        Only squares whose pixels are all True are processed.

    Returns
    -------
    list of (n, 2) float64 arrays [pixels]
        Each contour's (row, column) points, closed contours ending at their first point; on the
        input's device.

    Raises
    ------
    ParameterError
        For an image that is not 2D or smaller than 2 x 2, not of real numbers (complex: take its
        ``abs()`` or ``.real`` first) or a masked array with masked pixels, a level that is not a
        finite number, no level given for an image with infinite pixels (whose default level is
        infinite), an unknown option or a bad mask. A level outside the image's range gives no
        contours.
    DeviceError
        If ``mask`` is on the GPU and the image on the CPU (a CPU mask goes with a GPU image).

    Notes
    -----
    Equal to ``skimage.measure.find_contours`` (same contours, same order). On CUDA the image goes
    to the host and back (cuCIM has no marching squares); the first call warns. Where an edge from
    an infinite pixel crosses the level, the contour's point lies at the edge's finite pixel (the
    interpolation's limit, where scikit-image's marching cubes puts a vertex, though
    :func:`marching_cubes` refuses such voxels for its normals); scikit-image's is NaN there.

    Examples
    --------
    >>> import numpy as np
    >>> y, x = np.mgrid[-5:6, -5:6]
    >>> [c.shape for c in find_contours(np.hypot(x, y), 3.0)]
    [(21, 2)]
    """
    # Refuses what every operation refuses: scikit-image would contour a complex slice's real part
    # (a NumPy warning only) and run through a masked array's masked pixels.
    image = as_image(image)
    ns = namespace(image)
    shape = np.shape(image)
    if len(shape) != 2 or min(shape) < 2:
        raise ParameterError(f"the image must be 2D and at least 2 x 2; got shape {shape}.")
    for name, value in (("fully_connected", fully_connected), ("positive_orientation", positive_orientation)):
        check_choice(value, _LOW_HIGH, name, hint="use 'low' or 'high'")
    _check_mask(mask, shape, ns)
    host, host_mask = to_host(ns, "find_contours", image, mask)
    level = _level(level)
    if level is None:
        check_default_level(host, "image", ignore_nan=True)
    contours = skimage.measure.find_contours(
        infinite_as_far(host),
        level,
        fully_connected,
        positive_orientation,
        mask=None if host_mask is None else roi_voxels(host_mask),
    )
    return [ns.xp.asarray(c) for c in contours]


def _edges(vertices, faces):
    """The two edge vectors ``v0 - v1`` and ``v0 - v2`` of each face, in float64."""
    ns = namespace(vertices)
    if ns.device == "cpu" and namespace(faces).device != "cpu":  # NumPy would meet CuPy's bare TypeError
        raise DeviceError(
            "the faces are on the GPU and the vertices on the CPU; put both on one device: "
            "gpuimg.to_numpy(faces), or gpuimg.to_device(vertices, 'cuda')."
        )
    xp = ns.xp
    v = xp.asarray(vertices, dtype=xp.float64)
    f = xp.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ParameterError(f"vertices must be (V, 3) and faces (F, 3); got shapes {v.shape} and {f.shape}.")
    if f.dtype.kind not in "iu":
        raise ParameterError(f"faces must hold integer vertex indices; got dtype {f.dtype}.")
    if f.size:
        # One read of the device for both ends; a negative index would take a vertex from the end.
        low, high = (int(i) for i in to_numpy(xp.stack([f.min(), f.max()]).astype(xp.int64)))
        if low < 0 or high >= v.shape[0]:
            raise ParameterError(
                f"faces must hold indices of the {v.shape[0]} vertices, 0 to {v.shape[0] - 1}; got "
                f"indices from {low} to {high}. Pass the faces of these vertices (as marching_cubes "
                "returns them together)."
            )
    v0 = v[f[:, 0]]
    return v0 - v[f[:, 1]], v0 - v[f[:, 2]]


def _cross(a, b):
    """Row-wise cross product of two (N, 3) arrays."""
    xp = namespace(a).xp
    return xp.stack(
        [
            a[:, 1] * b[:, 2] - a[:, 2] * b[:, 1],
            a[:, 2] * b[:, 0] - a[:, 0] * b[:, 2],
            a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0],
        ],
        axis=1,
    )


def _normals_in_mm(normals: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """Unit normals in mm from scikit-image's unit normals in voxel units (float32).

    A normal is along the gradient: the gradient in mm is the gradient per voxel divided by the
    spacing along each axis. A zero normal stays zero, a NaN one (a NaN voxel nearby) NaN; an
    isotropic spacing changes no direction, and scikit-image's are returned as they are.
    """
    if len(set(spacing)) == 1:
        return normals
    scaled = normals.astype(np.float64) / np.asarray(spacing)
    length = np.sqrt((scaled**2).sum(axis=1, keepdims=True))
    length[length == 0] = 1.0
    return (scaled / length).astype(np.float32)


def _level(level):
    """The iso-value as a float, or None for scikit-image's default (the middle of the range)."""
    if level is None:
        return None
    # A 0-d array is one number too: the mean of a CuPy volume is one on the GPU (float() reads it).
    number = isinstance(level, (int, float, np.integer, np.floating)) or (
        hasattr(level, "dtype")
        and getattr(level, "shape", None) == ()
        and np.dtype(level.dtype).kind in "biuf"
    )
    if not number or not math.isfinite(float(level)):
        raise ParameterError(f"level={level!r} must be a finite number (image units) or None.")
    return float(level)


def _check_mask(mask, shape, ns):
    """A mask of the image's shape and of real numbers, on the image's device or the host (a host
    mask goes to scikit-image with a GPU image's host copy); a GPU mask with a CPU image is refused,
    as every operation refuses it (:func:`gpuimg.backend.on_device`), not copied to the host unseen."""
    if mask is None:
        return
    if ns.device == "cpu" and namespace(mask).device != "cpu":
        raise DeviceError(
            "mask is on the GPU and the image on the CPU; put both on one device: "
            "gpuimg.to_numpy(mask), or gpuimg.to_device(image, 'cuda')."
        )
    mask_shape = np.shape(mask)
    # Not getattr(mask, "dtype", np.asarray(mask).dtype): its default would copy a GPU mask to the host.
    dtype = np.dtype(mask.dtype if hasattr(mask, "dtype") else np.asarray(mask).dtype)
    if mask_shape != shape or dtype.kind not in "buif":
        raise ParameterError(
            f"mask must be an array of the image's shape {shape} (non-zero inside); got shape "
            f"{mask_shape}, dtype {dtype}."
        )
