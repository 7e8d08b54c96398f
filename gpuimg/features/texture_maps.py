"""Voxel-based texture maps: GLCM features of the neighbourhood of every voxel of an ROI."""

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import ConfigError
from gpuimg.kernels.glcm import glcm_windows
from gpuimg.volume import Volume

from .chain import prepare, roi_box
from .glcm import NAMES, glcm_features
from .settings import Settings, as_settings
from .texture import MATRIX_BUDGET, directions, grey_levels

#: Aggregations of a voxel's 13 direction matrices (IBSI 3.6.2).
MAP_AGGREGATIONS = ("averaged", "merged")


def glcm_map(
    image,
    mask,
    features: str | Sequence[str] = ("contrast",),
    *,
    radius: int = 1,
    spacing: Sequence[float] | None = None,
    settings: Settings | dict | str | os.PathLike | None = None,
    aggregation: str = "averaged",
) -> dict:
    """GLCM features of the cube of ``radius`` voxels around every voxel of an ROI, as volumes.

    Each voxel of the ROI (the intensity mask after the settings' re-segmentation) gets the
    features of the 3D co-occurrence matrices of its neighbourhood: the pairs of ROI voxels inside
    the cube of side ``2 radius + 1`` centred on it, at the settings' ``texture_distance`` along the
    13 directions. Grey levels are the ROI's, discretised once as for :func:`glcm` (so a voxel's
    levels compare across the map).

    Parameters
    ----------
    image : array (NumPy or CuPy) or Volume, 3D (z, y, x)
    mask : array or Volume of the image's shape
        Non-zero voxels are the ROI.
    features : str or sequence of str
        GLCM feature names (:data:`gpuimg.features.glcm.NAMES`, ``"contrast"``, ``"joint_entr"``, ...;
        a ``cm_`` prefix is allowed).
    radius : int [voxels]
        Half side of the neighbourhood cube (Chebyshev radius); 1 gives 3 x 3 x 3.
    spacing : sequence of 3 float [mm], optional
        For an array (a Volume brings its own).
    settings : Settings, dict or path of a TOML file, optional
        Discretisation, re-segmentation and ``texture_distance``; no interpolation
        (``new_spacing`` must be None: the maps lie on the image's grid).
    aggregation : {"averaged", "merged"}
        Features averaged over the 13 directions' matrices (as PyRadiomics' voxel-based mode), or of
        their sum.

    Returns
    -------
    dict of str to float64 array (or Volume for a Volume)
        One map per feature, keyed as given, of the image's shape on its device: NaN outside the
        ROI and where a neighbourhood holds no pair (or IBSI leaves the feature undefined).

    Raises
    ------
    ConfigError
        For an unknown feature or aggregation, a radius below 1, or settings that interpolate.

    Notes
    -----
    The matrices of a few thousand voxels at a time come from :func:`gpuimg.kernels.glcm.glcm_windows`
    (one task or CUDA thread per voxel; ``(2 radius + 1)^3 x 13`` pair tests each), and their
    features from the same vectorised code as :func:`glcm`, so memory stays near
    :data:`gpuimg.features.texture.MATRIX_BUDGET` whatever the ROI's size.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.features import Settings, glcm_map
    >>> image = np.zeros((1, 3, 4)); image[..., 2:] = 1.0
    >>> maps = glcm_map(image, np.ones(image.shape), "contrast", spacing=1.0,
    ...                 settings=Settings(discretisation="fbn", n_bins=2), aggregation="merged")
    >>> maps["contrast"][0].round(3)
    array([[0.   , 0.364, 0.364, 0.   ],
           [0.   , 0.35 , 0.35 , 0.   ],
           [0.   , 0.364, 0.364, 0.   ]])
    """
    names = [features] if isinstance(features, str) else list(features)
    wanted = [name.removeprefix("cm_") for name in names]
    unknown = [name for name, want in zip(names, wanted, strict=True) if want not in NAMES]
    if unknown or not names:
        raise ConfigError(f"features={names!r}: use one or more of the GLCM features {list(NAMES)}.")
    if aggregation not in MAP_AGGREGATIONS:
        raise ConfigError(f"aggregation={aggregation!r} is unknown; use one of {list(MAP_AGGREGATIONS)}.")
    if isinstance(radius, bool) or not isinstance(radius, int | np.integer) or radius < 1:
        raise ConfigError(f"radius={radius!r} must be a whole number of voxels, at least 1.")
    settings = as_settings(settings)
    if settings.new_spacing is not None:
        raise ConfigError(
            f"settings.new_spacing={settings.new_spacing!r}: texture maps lie on the image's grid; "
            "resample the image and mask first (gpuimg.preprocess.resample) and use new_spacing=None."
        )
    data = image.data if isinstance(image, Volume) else image
    voxels = mask.data if isinstance(mask, Volume) else mask
    if spacing is None and isinstance(image, Volume):
        spacing = image.spacing
    ns = namespace(data)
    xp = ns.xp
    box = tuple(slice(first, last + 1) for first, last in roi_box(voxels != 0))
    grey = grey_levels(prepare(data[box], voxels[box], spacing=spacing, settings=settings))
    levels = xp.ascontiguousarray(grey.levels, dtype=np.int32)
    centres = xp.stack(xp.nonzero(levels), axis=1).astype(np.int64)
    offsets = xp.asarray(directions("3d", settings.texture_distance))
    merged = aggregation == "merged"
    per_voxel = (1 if merged else offsets.shape[0]) * 8 * grey.n_present**2
    step = max(1, MATRIX_BUDGET // per_voxel)
    values = xp.full((len(wanted), centres.shape[0]), np.nan)
    for first in range(0, centres.shape[0], step):
        part = centres[first : first + step]
        counts = glcm_windows(levels, part, offsets, grey.n_present, radius, merged, xp=xp, target=ns.target)
        values[:, first : first + step] = _means(counts, grey, wanted, xp)
    maps = {}
    for name, row in zip(names, values, strict=True):
        volume = xp.full(data.shape, np.nan)
        inner = volume[box]
        inner[tuple(centres.T)] = row
        maps[name] = dataclasses.replace(image, data=volume) if isinstance(image, Volume) else volume
    return maps


def _means(counts, grey, wanted, xp):
    """The features (rows) of each voxel (columns): averaged over its non-empty matrices."""
    k, m = counts.shape[:2]
    flat = counts.reshape(k * m, *counts.shape[2:])
    filled = to_numpy(flat.reshape(k * m, -1).any(axis=1))
    out = xp.full((len(wanted), k), np.nan)
    if not filled.any():
        return out
    index = np.flatnonzero(filled)
    computed = glcm_features(flat[xp.asarray(index)], grey)
    sums = xp.zeros((len(wanted), k))
    owner = xp.asarray(index // m)
    for row, name in enumerate(wanted):
        sums[row] = xp.bincount(owner, weights=computed[name], minlength=k)
    matrices = xp.bincount(owner, minlength=k)
    return xp.where(matrices > 0, sums / xp.maximum(matrices, 1), np.nan)
