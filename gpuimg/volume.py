"""A medical volume: voxels on a device, and where they are in the patient."""

import dataclasses
import functools
import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from gpuimg._arrays import as_image
from gpuimg._support import check_spacing, refuse_bool
from gpuimg._volume_geometry import _direction_numbers, _float_triple, _orthonormal, _triple
from gpuimg.backend import namespace, to_device
from gpuimg.errors import DeviceError, GeometryError, ParameterError, VolumeUsageError

#: Direction of an axial slice stack: axis z runs head-wards (S), y posterior (P), x left (L).
AXIAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
#: ``Volume.meta`` entries that describe the slices one by one (:func:`gpuimg.io.read_dicom`'s):
#: ``files``, the file (or frame) of each filled slice in slice order, and ``missing_slices``, the
#: indices of the slices no file fills. They follow the slices through a new grid (:func:`slice_meta`).
SLICE_META = ("files", "missing_slices")


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image with its geometry in patient coordinates.

    Parameters
    ----------
    data : array (NumPy, CuPy or Dask), 3D
        Voxels, axes (z, y, x): slice, row, column.
    spacing : float or sequence of 3 float [mm]
        Distance between voxel centres along z, y and x; one number for all three (isotropic), as
        every function's ``spacing=`` takes it.
    origin : sequence of 3 float [mm]
        Position of the centre of voxel (0, 0, 0) in DICOM patient coordinates, ``(x, y, z)`` as
        ImagePositionPatient (LPS: x to the patient's left, y posterior, z superior): a point, not
        in the array's (z, y, x) order, so an axial stack's first slice lies at ``origin[2]``.
    direction : (3, 3) array
        Column ``k`` is the unit vector, in LPS, along which array axis ``k`` (z, y, x) runs.
        Default :data:`AXIAL`, an axial stack with rows along L and columns along P.
    meta : dict
        Everything else worth keeping: modality, series UID, rescale slope and intercept, window
        presets; entries per slice (:data:`SLICE_META`) follow the slices when a function changes the
        grid along z (a crop keeps those of the kept slices, resampling along z drops them). A
        function whose result is not in the voxels' units (an intensity mapping, a derivative, an
        edge map, a mask, labels, distances) leaves out the meta in those units (:data:`UNIT_META`:
        the window presets and a PET series' units).

    Raises
    ------
    GeometryError
        If the data are not 3D, a spacing is not positive, a spacing or origin is a bool (True is not
        1 mm), or the direction is not orthonormal.

    Notes
    -----
    The position of voxel ``(k, j, i)`` is ``origin + direction @ (spacing * (k, j, i))``, which
    :attr:`affine` holds as a 4x4 matrix, as nibabel's affine does for RAS.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> ct = gpuimg.Volume(np.zeros((4, 8, 8), np.int16), spacing=(2.5, 0.8, 0.8))
    >>> ct
    Volume(shape=(4, 8, 8), dtype=int16, device='cpu', spacing=(2.5, 0.8, 0.8), origin=(0.0, 0.0, 0.0))
    >>> gpuimg.to_numpy(ct).shape
    (4, 8, 8)
    """

    _is_volume: ClassVar[bool] = True

    data: object
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=AXIAL.copy)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if getattr(self.data, "ndim", None) != 3:
            shape = getattr(self.data, "shape", type(self.data).__name__)
            one_slice = (
                " A 2D image is one slice: pass image[np.newaxis]."
                if getattr(self.data, "ndim", None) == 2
                else ""
            )
            raise GeometryError(f"Volume data must be a 3D array (z, y, x); got {shape}.{one_slice}")
        # A checked Volume's spacing and origin (3 finite Python floats: one copied by dataclasses.replace
        # or a result's geometry), or a reader's (3 finite float64s), pass every check below as they are;
        # the checks run for anything else.
        spacing, origin = _float_triple(self.spacing), _float_triple(self.origin)
        for name, must, plain in (
            ("spacing", "3 numbers (or one for all three) [mm]", spacing),
            ("origin", "3 numbers [mm]", origin),
        ):
            if plain is None:
                refuse_bool(getattr(self, name), f"Volume {name}", must, error=GeometryError)
        if spacing is None:
            spacing = _triple("spacing", self.spacing, isotropic=True)
        if not all(s > 0 for s in spacing):
            raise GeometryError(f"Volume spacing must be positive in mm; got {spacing}.")
        # + 0.0: a flipped axis's 0 is 0.0, not -0.0; and a new array, not the caller's
        direction = _direction_numbers(self.direction) + 0.0
        if direction.shape != (3, 3) or not _orthonormal(direction):
            raise GeometryError(
                f"Volume direction must be a 3x3 matrix of orthonormal columns; got {direction.tolist()}."
            )
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _triple("origin", self.origin) if origin is None else origin)
        object.__setattr__(self, "direction", direction)
        if type(self.meta) is not dict and not isinstance(self.meta, Mapping):  # a dict: no ABC check
            raise ParameterError(f"Volume meta must be a dict; got {type(self.meta).__name__}.")
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def shape(self) -> tuple[int, int, int]:
        """Number of voxels along z, y and x."""
        return tuple(self.data.shape)

    @property
    def device(self) -> str:
        """The device the voxels live on: "cpu" or "cuda"."""
        return namespace(self.data).device

    @property
    def affine(self) -> np.ndarray:
        """4x4 matrix taking a voxel index (z, y, x, 1) to its LPS position (mm, 1)."""
        affine = np.eye(4)
        affine[:3, :3] = self.direction * np.array(self.spacing)
        affine[:3, 3] = self.origin
        return affine

    @property
    def dtype(self) -> np.dtype:
        """The voxels' dtype."""
        return np.dtype(self.data.dtype)

    def __repr__(self) -> str:
        meta = ", ".join(f"{k}={self.meta[k]!r}" for k in ("modality",) if k in self.meta)
        return (
            f"Volume(shape={self.shape}, dtype={self.dtype}, device={self.device!r}, "
            f"spacing={self.spacing}, origin={self.origin}" + (f", {meta}" if meta else "") + ")"
        )

    def __getattr__(self, name: str):
        # Only for names the class lacks: an array's attribute gets the way to the voxels.
        if name in _ARRAY_ATTRIBUTES:
            call = "()" if callable(getattr(np.ndarray, name, None)) else ""
            raise VolumeUsageError(
                f"a Volume has no .{name}: it holds voxels and their geometry, and is not an array. Its "
                f"voxels are volume.data, an array on its device: volume.data.{name}{call}."
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _not_an_array(self, expression: str, advice: str):
        raise VolumeUsageError(
            f"{expression}: a Volume holds voxels and their geometry, and is not an array; use its "
            f"voxels, {advice} (an array on its device), and keep the geometry of an image made from "
            "them with dataclasses.replace(volume, data=...)."
        )

    def __getitem__(self, index):
        raise VolumeUsageError(
            f"volume[{index!r}]: a Volume is not indexed; index its voxels, volume.data[...] (crop with "
            "gpuimg.preprocess.crop_to_mask to keep the geometry)."
        )

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        """Refuse NumPy's ufuncs, ``np.sqrt(volume)`` and the operators of a NumPy operand on the left
        (``np.float64(2) * volume``, which calls ``np.multiply``), as ``volume * 2`` is refused: their
        result would be the voxels without the geometry. ``np.asarray(volume)`` still gives the voxels."""
        out = kwargs.get("out")
        out = out if isinstance(out, tuple) else () if out is None else (out,)
        # array + volume calls np.add(array, volume); with the Volume first, np.add was called by name.
        reflected = len(inputs) == 2 and not isinstance(inputs[0], Volume) and isinstance(inputs[1], Volume)
        symbol = _UFUNC_SYMBOLS.get(ufunc.__name__) if method == "__call__" and reflected else None

        def written(volume: str) -> str:
            shown = [_operand(item, volume) for item in inputs]
            if symbol is not None and not kwargs:
                return f"{shown[0]} {symbol} {shown[1]}"
            shown += [f"out={_operand(item, volume)}" for item in out]
            call = "" if method == "__call__" else f".{method}"
            return f"np.{ufunc.__name__}{call}({', '.join(shown)})"

        self._not_an_array(written("volume"), written("volume.data"))

    def to(self, device: str) -> "Volume":
        """The same volume with its voxels on ``device`` ("auto", "cpu" or "cuda").

        Raises
        ------
        DeviceError
            If ``device`` is not "auto", "cpu" or "cuda", or is "cuda" and no usable GPU is found.
        """
        return dataclasses.replace(self, data=to_device(self.data, device))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """The voxels as a NumPy array, for ``np.asarray(volume)`` and NumPy's functions (the geometry
        stays behind). As with CuPy, voxels on a GPU are not copied implicitly: use :func:`gpuimg.to_numpy`.
        NumPy's ufuncs and operators (``np.sqrt(volume)``, ``array + volume``) are refused, as
        ``volume + 1`` is (:meth:`__array_ufunc__`).
        """
        if self.device != "cpu":
            raise DeviceError(
                "np.asarray(volume) of a volume on the GPU: its voxels are not copied to the host "
                "implicitly; use gpuimg.to_numpy(volume), or volume.data for the device array."
            )
        options = {} if copy is None else {"copy": copy}
        return np.asarray(self.data, dtype=dtype, **options)


#: ndarray attributes that a newcomer reaches for on a Volume (volume.max(), volume.astype(...)).
_ARRAY_ATTRIBUTES = frozenset(
    name for name in dir(np.ndarray) if not name.startswith("_") and name not in ("shape", "dtype", "device")
) | {"get", "compute", "chunks"}


#: The operators whose NumPy ufunc a NumPy operand on the left calls (``array + volume``: np.add).
_UFUNC_SYMBOLS = {
    "less": "<", "less_equal": "<=", "greater": ">", "greater_equal": ">=", "equal": "==", "not_equal": "!=",
    "add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "divide": "/", "floor_divide": "//",
    "remainder": "%", "power": "**", "bitwise_and": "&", "bitwise_or": "|", "bitwise_xor": "^",
    "matmul": "@",
}  # fmt: skip


def _operand(value, volume: str) -> str:
    """``value`` as a message writes an operand: ``volume`` (or its advice) for a Volume, else its
    repr up to 30 characters (a NumPy scalar, which NumPy's operators pass on as a 0-d array, as
    itself), else its type's name."""
    if isinstance(value, Volume):
        return volume
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    return repr(value) if len(repr(value)) <= 30 else type(value).__name__


def _operator(symbol: str, reflected: bool = False):
    def operation(self, other):
        shown = repr(other) if len(repr(other)) <= 30 else type(other).__name__

        def written(volume: str) -> str:
            return f"{shown} {symbol} {volume}" if reflected else f"{volume} {symbol} {shown}"

        self._not_an_array(written("volume"), written("volume.data"))

    return operation


for _name, _symbol in {
    "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "add": "+", "sub": "-", "mul": "*", "truediv": "/",
    "floordiv": "//", "mod": "%", "pow": "**", "and": "&", "or": "|", "xor": "^", "matmul": "@",
}.items():  # fmt: skip
    setattr(Volume, f"__{_name}__", _operator(_symbol))
    if _name not in ("lt", "le", "gt", "ge"):  # Python reflects comparisons itself
        setattr(Volume, f"__r{_name}__", _operator(_symbol, reflected=True))


def _equality(symbol: str):
    """``volume == 3`` is the error of the other operators (it was False, without a word: a labels
    Volume's ``labels == 2`` made no mask); another Volume, None or any object that is neither a
    number nor an array compares by identity, as before."""
    refuse = _operator(symbol)

    def operation(self, other):
        if not isinstance(other, Volume) and (
            isinstance(other, int | float | complex | np.generic) or hasattr(other, "shape")
        ):
            refuse(self, other)
        return NotImplemented

    return operation


Volume.__eq__, Volume.__ne__ = _equality("=="), _equality("!=")
for _name, _symbol in {"neg": "-", "pos": "+", "invert": "~"}.items():
    setattr(
        Volume, f"__{_name}__", lambda self, s=_symbol: self._not_an_array(f"{s}volume", f"{s}volume.data")
    )
Volume.__abs__ = lambda self: self._not_an_array("abs(volume)", "abs(volume.data)")


def _on_grid_of(data, like: Volume) -> Volume:
    """``Volume(data, like.spacing, like.origin, like.direction)``, without meta, for voxels on the grid
    of the Volume ``like``: its spacing and origin (3 finite floats, positive for the spacing, which
    its own construction checked and a frozen Volume keeps) are taken as they are, its direction
    copied once its columns are found orthonormal again (an array may have been changed in place);
    anything else (``data`` not 3D, a direction no longer orthonormal) is checked by the Volume, and
    refused with its error.
    """
    if getattr(data, "ndim", None) != 3 or like.direction.shape != (3, 3) or not _orthonormal(like.direction):
        return Volume(data, like.spacing, like.origin, like.direction)
    volume = object.__new__(Volume)
    for name, value in (
        ("data", data),
        ("spacing", like.spacing),
        ("origin", like.origin),
        ("direction", like.direction + 0.0),
        ("meta", {}),
    ):
        object.__setattr__(volume, name, value)
    return volume


def slice_meta(meta: Mapping, n_slices: int, kept: Sequence[int] | None) -> dict:
    """``meta`` of a volume of ``n_slices`` slices, for a new grid whose slice ``j`` is old slice ``kept[j]``.

    Parameters
    ----------
    meta : dict
        The old volume's meta.
    n_slices : int
        The old volume's number of slices (along z).
    kept : sequence of int, or None
        The old slice index of each new slice, in the new order (``range(10, 20)`` for a crop to old
        slices 10 to 19); None where the new slices are not old ones (resampled along z, joined).

    Returns
    -------
    dict
        A new dict: the entries of :data:`SLICE_META` for the new slices, the others as they were.
        ``files`` keeps the files of the kept slices that a file fills, in the new order;
        ``missing_slices`` the new indices of the kept slices that none fills. Both are dropped where
        ``kept`` is None, and where they do not describe ``n_slices`` slices (one file per slice
        that is not missing), as a meta written by hand may not.
    """
    out = {k: v for k, v in meta.items() if k not in SLICE_META}
    if kept is None or not any(k in meta for k in SLICE_META):
        return out
    try:
        missing = sorted({int(k) for k in meta.get("missing_slices", [])})
        files = list(meta["files"]) if "files" in meta else None
    except (TypeError, ValueError):
        return out
    filled = sorted(set(range(n_slices)) - set(missing))
    if (missing and not 0 <= missing[0] <= missing[-1] < n_slices) or (
        files is not None and len(files) != len(filled)
    ):
        return out
    new_index = {int(old): new for new, old in enumerate(kept)}
    if files is not None:
        placed = [(new_index[k], f) for k, f in zip(filled, files, strict=True) if k in new_index]
        out["files"] = [f for _, f in sorted(placed, key=lambda pair: pair[0])]
    if "missing_slices" in meta:
        out["missing_slices"] = sorted(new_index[k] for k in missing if k in new_index)
    return out


def as_volume(image, caller: str, *, spacing=None, origin=None, direction=None) -> Volume:
    """``image`` as a Volume: a Volume as it is, an array with the geometry given for it.

    For the functions that need a geometry (the writers): an array has none, so it needs at least
    ``spacing`` [mm]; ``origin`` [mm] and ``direction`` default to those of :class:`Volume`.

    Raises
    ------
    ParameterError
        An array without ``spacing``, or a Volume with geometry given besides its own.
    """
    given = [
        name
        for name, v in (("spacing", spacing), ("origin", origin), ("direction", direction))
        if v is not None
    ]
    if isinstance(image, Volume):
        if given:
            raise ParameterError(
                f"{caller} got a Volume and {', '.join(given)}=: a Volume carries its own geometry. Pass "
                f"dataclasses.replace(volume, {given[0]}=...) to change it, or its voxels (volume.data)."
            )
        return image
    if isinstance(image, str | bytes | os.PathLike):
        raise ParameterError(
            f"{caller} got the file name {os.fsdecode(image)!r} where the volume goes: the volume comes "
            f"first, {caller}(volume, path)."
        )
    if spacing is None:
        raise ParameterError(
            f"{caller} got an array ({type(image).__module__.split('.')[0]}.{type(image).__name__}), which "
            "carries no geometry: pass spacing= in mm "
            "(and origin=, direction= where they are not the defaults), or wrap it as "
            "gpuimg.Volume(array, spacing=...)."
        )
    geometry = {"origin": origin, "direction": direction}
    return Volume(image, spacing, **{k: v for k, v in geometry.items() if v is not None})


#: The meta of a Volume in its values' units: the window presets (levels and widths, in HU) and a PET
#: series' Units (``"GML"`` ...), as :func:`gpuimg.read_dicom` keeps them.
UNIT_META = ("windows", "units")


def accepts_volume(func=None, *, new_units: bool = False):
    """Let an array operation take a :class:`Volume` wherever it takes an array.

    The operation runs on the volume's voxels, with the volume's spacing as ``spacing=`` where the
    operation takes one and none is given; any other Volume argument (a mask, a reference image)
    is passed as its voxels, a ``mask`` Volume of the image's shape once :func:`check_same_grid` finds it
    on the image Volume's grid. Every array of the input's shape in the result (the result itself, an
    item of a tuple, a field of a dataclass) comes back as a Volume with the input's geometry and meta;
    other results (numbers, tables, meshes) are returned as they are.

    ``@accepts_volume(new_units=True)`` marks an operation whose result is not in the input's units
    (an intensity mapping, a derivative, a mask, labels, distances in mm): its Volumes leave out the
    meta in those units (:data:`UNIT_META`), which :func:`gpuimg.write_dicom` would write for them (a
    CT window of 40/400 over values in [0, 1] shows one grey; a z-scored PET would call its values
    SUVs in g/ml).

    The image (or the Volume's voxels) is checked first by :func:`gpuimg._arrays.as_image`: a
    list becomes an array, float16 becomes float32 and longdouble float64, big-endian values become
    native, and a 0-d array or a complex, object or string dtype raises a ParameterError naming it.
    """
    if func is None:
        return functools.partial(accepts_volume, new_units=new_units)
    signature = inspect.signature(func)
    takes_spacing = "spacing" in signature.parameters
    takes_mask = "mask" in signature.parameters
    first = next(iter(signature.parameters))  # the image's own name: marching_cubes(volume=...)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if args:
            image, args = args[0], args[1:]
        elif first in kwargs:
            image = kwargs.pop(first)
        else:
            return func(*args, **kwargs)  # the call's own TypeError for the missing image
        if takes_mask and isinstance(image, Volume):
            try:
                mask = signature.bind(image, *args, **kwargs).arguments.get("mask")
            except TypeError:  # the call's own TypeError comes below
                mask = None
            if isinstance(mask, Volume):
                check_same_grid(image, mask, func.__name__)
        args = [_voxels(a) for a in args]
        kwargs = {k: _voxels(v) for k, v in kwargs.items()}
        if not isinstance(image, Volume):
            return func(as_image(image), *args, **kwargs)
        if takes_spacing and kwargs.get("spacing") is None:
            kwargs["spacing"] = image.spacing
        elif takes_spacing:
            _check_own_spacing(func.__name__, image, kwargs["spacing"])
        meta = {k: v for k, v in image.meta.items() if k not in UNIT_META} if new_units else image.meta
        return _rewrap(func(as_image(image.data), *args, **kwargs), image, meta)

    return wrapper


def check_same_grid(image: Volume, mask: Volume, caller: str, error: type = GeometryError) -> None:
    """Refuse a mask Volume of the image's shape on another voxel grid (spacing, origin or direction),
    whose voxels would be read as if they lay on the image's: a shifted or mirrored region without a
    word. Positions agree to 1e-3 voxel, spacings to 1e-5 and direction cosines to 1e-4, as in
    :mod:`gpuimg.features`. A mask of another shape is left to the operation's shape check."""
    if mask.shape != image.shape:
        return
    spacing = np.asarray(image.spacing)
    shift = float(np.linalg.norm(np.subtract(mask.origin, image.origin)))
    if not np.allclose(mask.spacing, spacing, rtol=1e-5, atol=0.0):
        what = f"spacing {mask.spacing} mm against the image's {image.spacing} mm"
    elif shift > 1e-3 * spacing.min():
        what = f"origin {mask.origin} mm, {shift:.4g} mm from the image's {image.origin} mm"
    elif not np.allclose(mask.direction, image.direction, rtol=0.0, atol=1e-4):
        what = (
            f"direction cosines {np.round(mask.direction, 4).tolist()} against the image's "
            f"{np.round(image.direction, 4).tolist()} (a flipped or rotated grid)"
        )
    else:
        return
    raise error(
        f"{caller}: the mask Volume lies on another voxel grid than the image: {what}. Its voxels would "
        "be read as the image's. Resample the mask onto the image's grid first: "
        "gpuimg.preprocess.resample_mask(mask, reference=image) (exact where it holds the image's voxels "
        "in another axis order); if the grids are the same and only the header differs, pass its voxels, "
        "mask.data."
    )


def _check_own_spacing(caller: str, volume: Volume, spacing) -> None:
    """Refuse a ``spacing=`` given with a Volume that differs from its own: one of the two would be
    dropped without a word. An invalid one is left to the operation's own check."""
    try:
        given = check_spacing(spacing, 3)
    except ParameterError:
        return
    if not np.allclose(given, volume.spacing, rtol=1e-6, atol=0.0):
        raise ParameterError(
            f"{caller} got a Volume of spacing {volume.spacing} mm and spacing={spacing!r}: a Volume brings "
            "its own. Leave spacing= out, or pass dataclasses.replace(volume, spacing=...) to change it."
        )


def _voxels(value):
    return value.data if isinstance(value, Volume) else value


def _rewrap(result, like: Volume, meta: dict):
    """``result`` with each array of ``like``'s shape put back in a Volume of ``like``'s geometry, with
    ``meta``."""
    if isinstance(result, Volume):
        return result
    if type(result) is tuple:
        return tuple(_rewrap(item, like, meta) for item in result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result) if f.init}
        return dataclasses.replace(result, **{k: _rewrap(v, like, meta) for k, v in fields.items()})
    if getattr(result, "shape", None) == like.shape and hasattr(result, "dtype"):
        return dataclasses.replace(like, data=result, meta=meta)
    return result
