"""ct_phantom: determinism by seed, tissue values, lesion options."""

import numpy as np
import pytest

from gpuimg import MemoryBudgetError, ParameterError
from gpuimg.datasets import ct_phantom
from gpuimg.datasets.phantom import LESION_SHAPES, LESION_TEXTURES

SMALL = (16, 48, 48)


def test_same_seed_same_volume_other_seed_other_volume(rng):
    seed = int(rng.integers(2**31))
    first, second = ct_phantom(SMALL, seed=seed), ct_phantom(SMALL, seed=seed)
    np.testing.assert_array_equal(first.data, second.data)
    assert not np.array_equal(first.data, ct_phantom(SMALL, seed=seed + 1).data)


@pytest.mark.parametrize("lesion_shape", LESION_SHAPES)
@pytest.mark.parametrize("lesion_texture", LESION_TEXTURES)
def test_tissues_and_lesions(lesion_shape, lesion_texture, rng):
    seed = int(rng.integers(2**31))
    ct, mask = ct_phantom(
        (24, 64, 64),
        (2.5, 2.5, 2.5),
        seed=seed,
        n_lesions=2,
        lesion_shape=lesion_shape,
        lesion_texture=lesion_texture,
        return_mask=True,
    )
    data = ct.data
    assert data.dtype == np.int16 and ct.shape == (24, 64, 64) and ct.spacing == (2.5, 2.5, 2.5)
    tissue = np.ma.masked_array(data, mask.data > 0)  # lesions replace lung voxels

    def median(region):
        return np.ma.median(tissue[region])

    # Medians over a hundred voxels or more with 15 HU noise lie within a few HU of the tissue value
    # (the median of n voxels has a standard deviation of 1.25 * 15 / sqrt(n) HU: 1.2 for n = 240).
    assert abs(median(np.s_[:, :3, :]) + 1000) < 10  # air at the image border
    assert abs(median(np.s_[8:16, 28:36, 29:35]) - 40) < 10  # mediastinum
    assert abs(median(np.s_[8:16, 28:34, 12:18]) + 850) < 10  # a lung
    assert abs(median(np.s_[8:16, 45:50, 29:35]) - 700) < 10  # spine, 240 voxels inside its disc
    labels = set(np.unique(mask.data)) - {0}
    assert labels and labels <= {1, 2}
    assert abs(np.median(data[mask.data > 0]) - 45) < 40
    np.testing.assert_array_equal(mask.origin, ct.origin)


@pytest.mark.parametrize("lesion_shape", LESION_SHAPES)
def test_each_heterogeneous_lesion_averages_the_lesion_value(lesion_shape, rng):
    # Without noise each lesion is 45 HU, an offset of at most 10 HU and its texture, which averages
    # 0 over the lesion: its mean lies within 10 HU of 45 (and half an HU of rounding). The texture
    # was standardised over the lesion's box, so a small lesion took its box's texture off its mean:
    # lesion 1 of seed 1711238312 (lobulated, 129 voxels) averaged -2.5 HU.
    for seed in (1711238312, *rng.integers(2**31, size=5)):
        ct, mask = ct_phantom(
            (24, 64, 64),
            (2.5, 2.5, 2.5),
            seed=int(seed),
            n_lesions=2,
            lesion_shape=lesion_shape,
            lesion_texture="heterogeneous",
            noise_hu=0.0,
            return_mask=True,
        )
        for label in set(np.unique(mask.data)) - {0}:
            values = ct.data[mask.data == label].astype(np.float64)
            assert abs(values.mean() - 45) <= 10.5, (seed, label, values.size)
            assert values.size < 3 or values.std() > 5  # the texture is there


def test_noise_level():
    ct = ct_phantom(SMALL, seed=None, noise_hu=20.0)
    air = ct.data[:, :4, :].astype(float)
    assert 15 < air[air > -1024].std() < 25


def test_centred_on_origin():
    ct = ct_phantom(SMALL, (2.0, 1.0, 0.5), seed=0)
    centre = np.append((np.array(ct.shape) - 1) / 2, 1)
    np.testing.assert_allclose(ct.affine @ centre, [0, 0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("seed", [3, 7, 14, None])
def test_every_lesion_has_its_label(seed):
    # Lesion k is labelled k: with 6 lesions in a small phantom, labels 1..6 all in the label map.
    # Before: a lesion centred inside an earlier one was hidden by it (seed 3: no label 6, seed 7:
    # no label 3, seed 14: no label 6), so the map held fewer lesions than n_lesions.
    _, mask = ct_phantom((16, 48, 48), seed=seed, n_lesions=6, return_mask=True)
    assert set(np.unique(mask.data).tolist()) == set(range(7))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"lesion_shape": "cube"}, "lesion_shape='cube'"),
        ({"lesion_texture": "x"}, "lesion_texture"),
        ({"shape": (4, 48, 48)}, "at least 8"),
        # Before: silently truncated to 16, or no lesion and noise of the opposite sign.
        ({"shape": (16.5, 48, 48)}, r"shape=\(16\.5, 48, 48\) must be a positive whole number"),
        ({"spacing": (2.0, 0.0, 1.0)}, "spacing="),
        ({"n_lesions": -1}, "n_lesions=-1 must be a whole number"),
        # Before: OverflowError "Python integer 256 out of bounds for uint8" (uint8 holds 0 to 255).
        ({"n_lesions": 256}, r"n_lesions=256 must be a whole number from 0 to 255"),
        ({"noise_hu": -5.0}, "noise_hu=-5.0 must be a finite number"),
    ],
)
def test_bad_parameters(kwargs, words):
    with pytest.raises(ParameterError, match=words):
        ct_phantom(**{"shape": SMALL, **kwargs})


def test_a_shape_beyond_memory_is_refused_before_allocating():
    # Before: NumPy's MemoryError ("Unable to allocate 3.55 PiB") from the first array.
    with pytest.raises(MemoryBudgetError, match=r"ct_phantom\(shape=\(100000, 100000, 100000\)\) needs"):
        ct_phantom((100_000, 100_000, 100_000))


#: Seeds NumPy's default_rng refuses, with its bare message ('expected non-negative integer',
#: 'SeedSequence expects int or sequence of ints ...'), naming no parameter.
NUMPY_REFUSES = [-1, 1.5, "a", [0.5], np.float64(2.0)]


@pytest.mark.parametrize("seed", [*NUMPY_REFUSES, True], ids=repr)
def test_a_seed_numpy_cannot_take_is_refused_naming_seed(seed):
    if seed is not True:  # True NumPy takes as seed 1: refused as a flag given for a number
        with pytest.raises((TypeError, ValueError)):
            np.random.default_rng(seed)
    with pytest.raises(ParameterError, match=r"seed=.* must be None, an integer of at least 0, or a numpy"):
        ct_phantom(SMALL, seed=seed)


def test_seeds_numpy_takes_give_the_volume_of_their_integer():
    """A NumPy integer, and a Generator made by default_rng of the integer, draw what the integer
    draws (NumPy's seeding, the reference)."""
    want = ct_phantom(SMALL, seed=5).data
    for seed in (np.int64(5), np.random.default_rng(5)):
        np.testing.assert_array_equal(ct_phantom(SMALL, seed=seed).data, want)
