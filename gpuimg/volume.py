"""A medical volume: voxels on a device, and where they are in the patient."""

import dataclasses
import functools
import inspect
from dataclasses import dataclass, field

import numpy as np

from gpuimg.backend import namespace, to_device
from gpuimg.errors import GeometryError

#: Direction of an axial slice stack: axis z runs head-wards (S), y posterior (P), x left (L).
AXIAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])


@dataclass(frozen=True, eq=False)
class Volume:
    """A 3D image with its geometry in patient coordinates.

    Parameters
    ----------
    data : array (NumPy, CuPy or Dask), 3D
        Voxels, axes (z, y, x): slice, row, column.
    spacing : sequence of 3 float [mm]
        Distance between voxel centres along z, y and x.
    origin : sequence of 3 float [mm]
        Position of the centre of voxel (0, 0, 0) in DICOM patient coordinates (LPS: x to the
        patient's left, y posterior, z superior).
    direction : (3, 3) array
        Column ``k`` is the unit vector, in LPS, along which array axis ``k`` (z, y, x) runs.
        Default :data:`AXIAL`, an axial stack with rows along L and columns along P.
    meta : dict
        Everything else worth keeping: modality, series UID, rescale slope and intercept, window
        presets.

    Raises
    ------
    GeometryError
        If the data are not 3D, a spacing is not positive, or the direction is not orthonormal.

    Notes
    -----
    The position of voxel ``(k, j, i)`` is ``origin + direction @ (spacing * (k, j, i))``, which
    :attr:`affine` holds as a 4x4 matrix, as nibabel's affine does for RAS.
    """

    data: object
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=AXIAL.copy)
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if getattr(self.data, "ndim", None) != 3:
            shape = getattr(self.data, "shape", type(self.data).__name__)
            raise GeometryError(f"Volume data must be a 3D array (z, y, x); got {shape}.")
        spacing = _triple("spacing", self.spacing)
        if not all(s > 0 for s in spacing):
            raise GeometryError(f"Volume spacing must be positive in mm; got {spacing}.")
        direction = np.array(self.direction, dtype=float)
        if direction.shape != (3, 3) or not np.allclose(direction.T @ direction, np.eye(3), atol=1e-4):
            raise GeometryError(
                f"Volume direction must be a 3x3 matrix of orthonormal columns; got {direction.tolist()}."
            )
        object.__setattr__(self, "spacing", spacing)
        object.__setattr__(self, "origin", _triple("origin", self.origin))
        object.__setattr__(self, "direction", direction)
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

    def to(self, device: str) -> "Volume":
        """The same volume with its voxels on ``device`` ("auto", "cpu" or "cuda")."""
        return dataclasses.replace(self, data=to_device(self.data, device))


def _triple(name: str, value) -> tuple[float, float, float]:
    values = np.asarray(value, dtype=float).ravel()
    if values.size != 3 or not np.all(np.isfinite(values)):
        raise GeometryError(f"Volume {name} must be 3 finite numbers (mm); got {value!r}.")
    return tuple(float(v) for v in values)


def accepts_volume(func):
    """Let an array operation take a :class:`Volume` as its first argument.

    The operation runs on the volume's data, with the volume's spacing as ``spacing=`` where the
    operation takes one and none is given, and returns a Volume with the same geometry.
    """
    takes_spacing = "spacing" in inspect.signature(func).parameters

    @functools.wraps(func)
    def wrapper(image, *args, **kwargs):
        if not isinstance(image, Volume):
            return func(image, *args, **kwargs)
        if takes_spacing and kwargs.get("spacing") is None:
            kwargs["spacing"] = image.spacing
        return dataclasses.replace(image, data=func(image.data, *args, **kwargs))

    return wrapper
