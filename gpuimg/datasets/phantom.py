"""A synthetic chest CT: body, lungs, spine and lesions, in Hounsfield units."""

import math

import numpy as np
from scipy import ndimage

from gpuimg._memory import check_bytes
from gpuimg._support import check_choice, check_finite, check_sizes, check_spacing, random_generator
from gpuimg.errors import ParameterError
from gpuimg.volume import AXIAL, Volume

#: Mean values of the tissues [HU].
AIR, SOFT_TISSUE, LUNG, BONE, LESION = -1000.0, 40.0, -850.0, 700.0, 45.0
LESION_SHAPES = ("sphere", "lobulated", "spiculated")
LESION_TEXTURES = ("homogeneous", "heterogeneous")
#: The phantom's peak memory a voxel: float32 image, noise and rounding, the int16 result, three masks.
_BYTES_PER_VOXEL = 20


def ct_phantom(
    shape: tuple[int, int, int] = (64, 128, 128),
    spacing: tuple[float, float, float] = (2.5, 2.5, 2.5),
    *,
    seed: int | None = None,
    n_lesions: int = 3,
    lesion_shape: str = "lobulated",
    lesion_texture: str = "heterogeneous",
    noise_hu: float = 15.0,
    return_mask: bool = False,
) -> Volume | tuple[Volume, Volume]:
    """A synthetic axial chest CT in HU, the same for the same seed.

    Parameters
    ----------
    shape : tuple of 3 int
        Voxels along z, y, x.
    spacing : tuple of 3 float [mm]
        Voxel spacing along z, y, x.
    seed : int, numpy.random.Generator or RandomState, optional
        Seed of ``numpy.random.default_rng`` (an integer of at least 0): the same seed gives the same
        volume.
    n_lesions : int
        Lesions placed inside the lungs, 0 to 255 (labels of the uint8 label map).
    lesion_shape : {"sphere", "lobulated", "spiculated"}
        Lesion outline: a ball; a union of overlapping balls; a ball with spikes (radius modulated by
        direction).
    lesion_texture : {"homogeneous", "heterogeneous"}
        Heterogeneous lesions carry smooth internal variation (about 25 HU) on top of the noise.
    noise_hu : float [HU]
        Standard deviation of the Gaussian noise added everywhere.
    return_mask : bool
        Also return the lesion label map (uint8, lesion k labelled k; each of the ``n_lesions``
        labels is there, a lesion keeps at least its centre voxel where others overlap it).

    Returns
    -------
    Volume or (Volume, Volume)
        int16 HU: air -1000 outside an elliptic body of soft tissue (40), two lungs (-850), a spine
        (700) and the lesions (about 45); centred on the origin of LPS, axial direction. With
        ``return_mask``, the lesion label map with the same geometry.

    Raises
    ------
    ParameterError
        Unknown lesion shape or texture, a shape smaller than 8 voxels, a non-positive spacing, a
        number of lesions outside 0 to 255, a negative noise, a seed NumPy cannot seed with (-1, 1.5).
    MemoryBudgetError
        A shape whose volume would not fit in memory (checked before anything is allocated).

    Examples
    --------
    >>> ct = ct_phantom(shape=(16, 64, 64), seed=0)
    >>> ct.data.dtype, ct.shape
    (dtype('int16'), (16, 64, 64))
    """
    shape = tuple(int(n) for n in check_sizes(shape, 3, "shape"))
    spacing = check_spacing(spacing, 3)
    check_choice(lesion_shape, LESION_SHAPES, "lesion_shape")
    check_choice(lesion_texture, LESION_TEXTURES, "lesion_texture")
    if min(shape) < 8:
        raise ParameterError(f"ct_phantom needs at least 8 voxels along each axis; got shape={shape}.")
    if (
        not isinstance(n_lesions, int | np.integer)
        or isinstance(n_lesions, bool)
        or not 0 <= n_lesions <= 255
    ):
        raise ParameterError(
            f"n_lesions={n_lesions!r} must be a whole number from 0 to 255 (the label map is uint8)."
        )
    check_finite(noise_hu, "noise_hu", low=0.0)
    check_bytes(_BYTES_PER_VOXEL * math.prod(shape), f"ct_phantom(shape={shape})")
    rng = random_generator(seed)
    z, y, x = _grid(shape, spacing)
    half_y, half_x = 0.45 * shape[1] * spacing[1], 0.45 * shape[2] * spacing[2]
    image = np.full(shape, AIR, dtype=np.float32)
    body = (y / (0.75 * half_y)) ** 2 + (x / half_x) ** 2 <= 1
    image[np.broadcast_to(body, shape)] = SOFT_TISSUE
    lungs = np.zeros(shape, bool)
    cores = np.zeros(shape, bool)  # the inner part of each lung, where lesions are centred
    for side in (-1, 1):
        across = ((x - side * 0.45 * half_x) / (0.3 * half_x)) ** 2
        front_back = ((y + 0.05 * half_y) / (0.5 * half_y)) ** 2
        lung = across + front_back + (z / (0.48 * shape[0] * spacing[0])) ** 4
        lungs |= lung <= 1
        cores |= lung <= 0.5
    image[lungs] = LUNG
    spine = (y - 0.55 * half_y) ** 2 + x**2 <= (0.12 * half_y) ** 2
    image[np.broadcast_to(spine, shape)] = BONE
    mask = np.zeros(shape, np.uint8)
    candidates = np.argwhere(cores)
    for label in range(1, min(n_lesions, len(candidates)) + 1):
        index = candidates[rng.integers(len(candidates))]
        if mask[tuple(index)]:  # inside an earlier lesion, which would hide this one and its label
            free = candidates[mask[tuple(candidates.T)] == 0]
            if not len(free):
                break
            index = free[rng.integers(len(free))]
        radius = rng.uniform(4.0, 12.0)
        box = tuple(
            slice(max(0, i - reach), i + reach + 1)
            for i, reach in zip(index, np.ceil(2.5 * radius / np.array(spacing)).astype(int), strict=True)
        )
        centre = [axis.ravel()[i] for axis, i in zip((z, y, x), index, strict=True)]
        grid = [axis[(slice(None),) * k + (box[k],)] for k, axis in enumerate((z, y, x))]
        lesion = _lesion(grid, centre, radius, lesion_shape, rng) & (lungs[box] | (mask[box] > 0))
        lesion &= mask[box] == 0
        mask[box][lesion] = label
        value = LESION + rng.uniform(-10, 10)
        if lesion_texture == "heterogeneous":
            # Standardised over the lesion's own voxels: smoothed over 1.5 voxels, the texture of a small
            # lesion is far from its box's mean (a lesion of 129 voxels had a median of -2 HU, not 45).
            inside = ndimage.gaussian_filter(rng.normal(0, 1, lesion.shape), 1.5)[lesion]
            value = value + 25.0 * (inside - inside.mean()) / max(inside.std(), 1e-6)
        image[box][lesion] = value
    image += np.float32(noise_hu) * rng.standard_normal(shape, dtype=np.float32)
    data = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    origin = AXIAL @ (-(np.array(shape) - 1) / 2 * np.array(spacing))
    meta = {
        "modality": "CT",
        "description": f"gpuimg CT phantom ({lesion_shape}, {lesion_texture})",
        "patient_id": f"PHANTOM-{seed}" if seed is None or isinstance(seed, int | np.integer) else "PHANTOM",
        "windows": [
            {"center": 40.0, "width": 400.0, "name": "mediastinum"},
            {"center": -600.0, "width": 1500.0, "name": "lung"},
        ],
    }
    volume = Volume(data, spacing, origin, AXIAL, meta)
    if return_mask:
        return volume, Volume(mask, spacing, origin, AXIAL, {"description": "lesion labels"})
    return volume


def _grid(shape, spacing) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open grids of voxel-centre coordinates [mm] along z, y, x, centred on 0."""
    return tuple(
        ((np.arange(n) - (n - 1) / 2) * s).reshape([-1 if k == axis else 1 for k in range(3)])
        for axis, (n, s) in enumerate(zip(shape, spacing, strict=True))
    )


def _lesion(grid, centre, radius: float, shape: str, rng: np.random.Generator) -> np.ndarray:
    """Boolean lesion of ``shape`` around ``centre`` [mm] with base ``radius`` [mm]."""
    offsets = [g - c for g, c in zip(grid, centre, strict=True)]
    distance = np.sqrt(sum(o**2 for o in offsets))
    if shape == "sphere":
        return distance <= radius
    if shape == "lobulated":
        lesion = distance <= radius
        for _ in range(4):
            shift = rng.normal(0, 0.5 * radius, 3)
            lobe = np.sqrt(sum((o - s) ** 2 for o, s in zip(offsets, shift, strict=True)))
            lesion = lesion | (lobe <= rng.uniform(0.4, 0.7) * radius)
        return lesion
    theta = np.arccos(np.clip(offsets[0] / np.maximum(distance, 1e-9), -1, 1))
    phi = np.arctan2(offsets[1], offsets[2])
    spikes = rng.integers(4, 9)
    modulation = 1 + 0.5 * np.maximum(np.sin(spikes * theta) * np.sin(spikes * phi), 0) ** 3
    return distance <= radius * modulation
