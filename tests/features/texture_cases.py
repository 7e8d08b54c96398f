"""Small random ROIs for the texture matrix tests, how a reference reads their grey levels, and the
IBSI formulas that zone-like matrices (GLSZM, GLDZM, NGLDM) share.

An ROI is an image of whole-number grey levels (with gaps between the levels used) and a mask (holes,
single voxels, voxels on the volume's edge), prepared with a fixed bin size of 1 so that each
intensity is its own bin. The references index matrices by the rank of a voxel's grey level among
the levels present in the ROI, as :func:`gpuimg.features.texture.grey_levels` defines them.
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpuimg.features import Settings, prepare
from gpuimg.features.texture import GreyLevels, grey_levels

#: Grey levels the strategies draw from: gaps between them, so compact indices differ from levels.
LEVELS = (1, 2, 4, 7, 8, 12)


@st.composite
def rois(draw, max_side: int = 5):
    """``(image, mask)``: float64 grey levels and a non-empty bool mask of a random 3D shape."""
    shape = draw(st.tuples(*[st.integers(1, max_side)] * 3))
    used = draw(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=len(LEVELS), unique=True))
    image = draw(arrays(np.float64, shape, elements=st.sampled_from(sorted(used))))
    mask = draw(arrays(np.bool_, shape))
    mask[tuple(draw(st.integers(0, n - 1)) for n in shape)] = True
    return image, mask


def prepared(image, mask, **settings):
    """The :class:`GreyLevels` of ``image`` in ``mask``, each intensity its own bin."""
    chosen = Settings(discretisation="fbs", bin_width=1.0, **settings)
    return grey_levels(prepare(image, mask, spacing=1.0, settings=chosen))


def reference_grey(image, mask, device=np.asarray):
    """:class:`GreyLevels` built here from :func:`ranks` (cut to the mask's box) on ``device``: what
    a simulated CUDA test hands the kernels, as the processing chain cannot run in the simulator."""
    compact, present = ranks(image, mask)
    box = tuple(slice(w.min(), w.max() + 1) for w in np.nonzero(mask))
    levels = np.ascontiguousarray(compact[box], dtype=np.int32)
    return GreyLevels(device(levels), present, int(present.max()), device(mask[box]), Settings())


def ranks(image, mask):
    """The compact level (1 .. n) of each voxel of the ROI, 0 outside, and the levels present."""
    present = np.unique(image[mask])
    compact = np.where(mask, np.searchsorted(present, image) + 1, 0)
    return compact, present


def reference_zone_features(counts, grey, column, n_voxels):
    """IBSI 3.8's (and 3.9's) 16 formulas, written out, for one matrix ``counts[i, j]`` of zones of
    grey level ``grey[i]`` and size (or distance) ``column[j]`` describing ``n_voxels`` voxels."""
    n_s = counts.sum()
    p = counts / n_s
    i = np.asarray(grey, dtype=float)[:, None]
    j = np.asarray(column, dtype=float)[None, :]
    mu_i = (i * p).sum()
    mu_j = (j * p).sum()
    nonzero = p[p > 0]
    return [
        (counts / j**2).sum() / n_s,
        (counts * j**2).sum() / n_s,
        (counts / i**2).sum() / n_s,
        (counts * i**2).sum() / n_s,
        (counts / (i**2 * j**2)).sum() / n_s,
        (counts * i**2 / j**2).sum() / n_s,
        (counts * j**2 / i**2).sum() / n_s,
        (counts * i**2 * j**2).sum() / n_s,
        (counts.sum(axis=1) ** 2).sum() / n_s,
        (counts.sum(axis=1) ** 2).sum() / n_s**2,
        (counts.sum(axis=0) ** 2).sum() / n_s,
        (counts.sum(axis=0) ** 2).sum() / n_s**2,
        n_s / n_voxels,
        ((i - mu_i) ** 2 * p).sum(),
        ((j - mu_j) ** 2 * p).sum(),
        -(nonzero * np.log2(nonzero)).sum(),
    ]


def gapped_slices(rng):
    """``(image, morph_mask)`` of 6 slices whose ROI, re-segmented to (0, 40.5), leaves some slices out.

    Slice 2 holds no ROI voxel, between slices that do; slice 4 holds morphological voxels only (all
    at 41, which the range removes: they still border the GLDZM's zones); slice 5 one voxel; elsewhere
    the 41s the range removes are holes in the intensity mask. Grey levels 3, 4, 6 and 9 (fixed bins
    of 1 from the range's lower end 0: levels 4, 5, 7 and 10).
    """
    shape = (6, 7, 8)
    image = rng.choice([3.0, 4.0, 6.0, 9.0, 41.0], size=shape)
    morph = rng.random(shape) < 0.75
    image[0, 0, 0] = image[1, 3, 3] = image[3, 3, 3] = 4.0
    morph[0, 0, 0] = morph[1, 3, 3] = morph[3, 3, 3] = True
    morph[2] = False
    image[4] = 41.0
    morph[4, 2:5, 2:6] = True
    morph[5] = False
    morph[5, 3, 4], image[5, 3, 4] = True, 6.0
    return image, morph


#: The settings of :func:`gapped_slices` (with every texture approach).
GAPPED_SETTINGS = {
    "discretisation": "fbs",
    "bin_width": 1.0,
    "reseg_range": (0.0, 40.5),
    "texture_approaches": ("2d", "2.5d", "3d"),
}


def reference_directional(image, morph, matrix, features, distance=1):
    """A directional family's features of :func:`gapped_slices` for every approach and aggregation
    (IBSI 3.6.1), from the reference's ``matrix(compact, n, offset)`` and ``features(counts,
    levels)``: 2D averages over the slices holding intensity voxels (and, averaged, their
    directions), leaving out the matrices without an entry; 2.5D sums each direction's slices; 3D
    takes the volume's 13 directions. Keyed by tag suffix (``2_5D_comb``)."""
    inside = morph & (image <= 40.5)
    levels = np.where(inside, np.floor(image).astype(np.int64) + 1, 0)  # bins of 1 from the range's 0
    present = np.unique(levels[inside])
    compact = np.where(inside, np.searchsorted(present, levels) + 1, 0)
    slices = [compact[z : z + 1] for z in range(compact.shape[0]) if inside[z].any()]
    # the 13 steps whose first non-zero one is positive (one of each opposite pair), 4 of them in-plane
    steps = [np.array(d) - 1 for d in np.ndindex(3, 3, 3) if (np.array(d) - 1).tolist() > [0, 0, 0]]
    in_plane = [d for d in steps if d[0] == 0]
    per_slice = [[matrix(s, present.size, distance * d) for d in in_plane] for s in slices]
    volume = [matrix(compact, present.size, distance * d) for d in steps]

    def mean(matrices):
        return np.mean([features(m, present.astype(float)) for m in matrices if m.any()], axis=0)

    return {
        "2D_avg": mean([m for part in per_slice for m in part]),
        "2D_comb": mean([sum(part) for part in per_slice]),
        "2_5D_avg": mean([sum(part[d] for part in per_slice) for d in range(len(in_plane))]),
        "2_5D_comb": mean([sum(sum(part) for part in per_slice)]),
        "3D_avg": mean(volume),
        "3D_comb": mean([sum(volume)]),
    }
