"""Voxel-based texture maps: GLCM features of the neighbourhood of every voxel of an ROI."""

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from gpuimg._arrays import roi_voxels
from gpuimg._memory import check_bytes
from gpuimg._support import as_names
from gpuimg.backend import bincount_fixed, namespace
from gpuimg.errors import ConfigError
from gpuimg.kernels.glcm import glcm_windows, window_size
from gpuimg.volume import Volume

from .chain import _inputs, prepare, roi_box
from .glcm import NAMES, pair_features
from .settings import MAX_TEXTURE_REACH, Settings, as_settings
from .texture import batch_bytes, directions, grey_levels

#: Aggregations of a voxel's 13 direction matrices (IBSI 3.6.2).
MAP_AGGREGATIONS = ("averaged", "merged")
#: Bytes held at once for each byte of a batch's pair lists, at most (measured): the lists, their
#: entries' indices and keys, the sort that counts them and the features' arrays over the entries.
WORK_PER_LIST_BYTE = 24


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
        Half side of the neighbourhood cube (Chebyshev radius); 1 gives 3 x 3 x 3. At most
        :data:`~gpuimg.features.settings.MAX_TEXTURE_REACH`.
    spacing : sequence of 3 float [mm], optional
        For arrays (a Volume, image or mask, brings its own).
    settings : Settings, dict or path of a TOML file, optional
        Discretisation, re-segmentation and ``texture_distance``; no interpolation
        (``new_spacing`` must be None: the maps lie on the image's grid), and the 3D approach among
        ``texture_approaches`` (the maps are 3D: settings of the 2D and 2.5D approaches only, as
        IBSI's configurations A and B, are refused rather than read as 3D).
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
        For an unknown feature or aggregation, a radius below 1, or settings that interpolate or
        ask for no 3D approach.
    FeatureError
        As :func:`prepare`: an image that is not 3D, a mask of another shape or grid, no spacing for
        arrays, an empty ROI.

    Notes
    -----
    The pairs of each voxel's neighbourhood come from :func:`gpuimg.kernels.glcm.glcm_windows` (one
    task or CUDA thread per voxel; ``(2 radius + 1)^3 x 13`` pair tests each) as lists, not dense
    ``n x n`` matrices; their features from the same code as :func:`glcm`
    (:func:`~gpuimg.features.glcm.pair_features`, on the non-zero entries), for as many voxels at a
    time as :func:`gpuimg.features.texture.batch_bytes` allows with the work on their lists
    (:data:`WORK_PER_LIST_BYTE`): within the memory budget (``GPUIMG_MAX_BYTES``).

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
    names = as_names(features, "features")
    wanted = [name.removeprefix("cm_") for name in names]
    unknown = [name for name, want in zip(names, wanted, strict=True) if want not in NAMES]
    if unknown or not names:
        raise ConfigError(f"features={names!r}: use one or more of the GLCM features {list(NAMES)}.")
    if not isinstance(aggregation, str) or aggregation not in MAP_AGGREGATIONS:
        raise ConfigError(f"aggregation={aggregation!r} is unknown; use one of {list(MAP_AGGREGATIONS)}.")
    if (
        isinstance(radius, bool)
        or not isinstance(radius, int | np.integer)
        or not 1 <= radius <= MAX_TEXTURE_REACH
    ):
        raise ConfigError(
            f"radius={radius!r} must be a whole number of voxels, from 1 to {MAX_TEXTURE_REACH} (a larger "
            "one reaches no further)."
        )
    radius = int(radius)  # a NumPy integer (uint8) would wrap in the sizes below
    settings = as_settings(settings)
    if settings.new_spacing is not None:
        raise ConfigError(
            f"settings.new_spacing={settings.new_spacing!r}: texture maps lie on the image's grid; "
            "resample the image and mask first (gpuimg.preprocess.resample) and use new_spacing=None."
        )
    if "3d" not in settings.texture_approaches:
        raise ConfigError(
            f"settings.texture_approaches={settings.texture_approaches!r}: texture maps are 3D (the "
            "cube of radius voxels around each voxel, its 13 directions); add '3d' to "
            "texture_approaches for them."
        )
    data, voxels, spacing = _inputs(image, mask, spacing)
    ns = namespace(data)
    xp = ns.xp
    # The ROI's own box (NaN voxels of a float mask are not in it): the levels, and so the centres
    # placed in it below, start at its first voxel.
    voxels = roi_voxels(voxels)
    box = tuple(slice(first, last + 1) for first, last in roi_box(voxels))
    grey = grey_levels(prepare(data[box], voxels[box], spacing=spacing, settings=settings))
    levels = xp.ascontiguousarray(grey.levels, dtype=np.int32)
    centres = xp.stack(xp.nonzero(levels), axis=1).astype(np.int64)
    offsets = xp.asarray(directions("3d", settings.texture_distance))
    merged = aggregation == "merged"
    # the pair lists of a voxel: two int32 per voxel of its cube (within the levels' box) and offset
    voxel_bytes = 8 * offsets.shape[0] * window_size(radius, levels.shape)
    voxel_work = WORK_PER_LIST_BYTE * voxel_bytes  # what a voxel's lists take, with the work on them
    check_bytes(voxel_work, f"glcm_map's pair lists of one voxel with the work on them (radius={radius})")
    step = max(1, batch_bytes(1, voxel_work * centres.shape[0]) // voxel_work)
    values = xp.full((len(wanted), centres.shape[0]), np.nan)
    for first in range(0, centres.shape[0], step):
        part = centres[first : first + step]
        pairs = glcm_windows(levels, part, offsets, radius, xp=xp, target=ns.target)
        values[:, first : first + step] = _means(pairs, grey, wanted, merged, xp)
    volumes = xp.full((len(names), *data.shape), np.nan)  # one block, one map per feature
    inner = volumes[(slice(None), *box)]
    inner[(slice(None), *centres.T)] = values
    return {
        name: dataclasses.replace(image, data=volume) if isinstance(image, Volume) else volume
        for name, volume in zip(names, volumes, strict=True)
    }


def _means(pairs, grey, wanted, merged, xp):
    """The features (rows) of each voxel (columns) from its pair lists: of its one merged matrix, or
    averaged over its non-empty direction matrices; NaN for a voxel without a pair."""
    firsts, seconds = pairs
    k, m = firsts.shape[:2]
    voxel, offset, slot = xp.nonzero(firsts)
    matrix = voxel if merged else voxel * m + offset
    n_matrices, n = (k if merged else k * m), grey.n_present
    a, b = firsts[voxel, offset, slot].astype(np.int64) - 1, seconds[voxel, offset, slot].astype(np.int64) - 1
    keys, counts = xp.unique(
        xp.concatenate([(matrix * n + a) * n + b, (matrix * n + b) * n + a]), return_counts=True
    )
    owner, cell = keys // (n * n), keys % (n * n)
    # a voxel's matrix holds at most two entries (both orders) per pair of its lists
    most = 2 * firsts.shape[2] * (m if merged else 1)
    computed = pair_features(owner, cell // n, cell % n, counts.astype(np.float64), n_matrices, grey, most)
    filled = bincount_fixed(owner, length=n_matrices) > 0
    voxels = xp.arange(n_matrices) // (1 if merged else m)
    matrices = bincount_fixed(voxels, filled, length=k)
    out = xp.empty((len(wanted), k))
    for row, name in enumerate(wanted):
        sums = bincount_fixed(voxels, xp.where(filled, computed[name], 0.0), length=k)
        out[row] = xp.where(matrices > 0, sums / xp.maximum(matrices, 1), np.nan)
    return out
