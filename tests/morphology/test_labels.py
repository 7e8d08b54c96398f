"""gpuimg.morphology.labels against scipy.ndimage.label (up to a permutation) and scikit-image."""

import inspect
import re

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.measure
import skimage.morphology

import gpuimg
from gpuimg.morphology import fill_holes, label, remove_small_objects

RANK = {4: 1, 8: 2, 6: 1, 18: 2, 26: 3}


def assert_same_partition(ours, theirs):
    """Equal up to a permutation of the labels: the pairs (ours, theirs) are a bijection."""
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    np.testing.assert_array_equal(ours > 0, theirs > 0)
    pairs = np.unique(np.stack([ours.ravel(), theirs.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


def blobs(rng, shape, level=0.55):
    return ndi.gaussian_filter(rng.random(shape), 1.0) > level


@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_label_equals_scipy(rng, connectivity):
    mask = blobs(rng, (16, 18, 20))
    spacing = (2.0, 0.5, 0.5)
    got = label(mask, connectivity, spacing=spacing)
    want, count = ndi.label(mask, ndi.generate_binary_structure(3, RANK[connectivity]))
    assert got.count == count > 3
    np.testing.assert_array_equal(got.labels, want)  # same algorithm on NumPy: identical numbering
    np.testing.assert_array_equal(got.sizes, np.bincount(want.ravel())[1:])
    np.testing.assert_allclose(got.volumes_mm3, got.sizes * 0.5)
    assert got.bboxes == ndi.find_objects(want)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_label_2d_real_ct(ct_slice, connectivity):
    mask = ct_slice > np.percentile(ct_slice, 60)
    got = label(mask, connectivity)
    want, count = ndi.label(mask, ndi.generate_binary_structure(2, RANK[connectivity]))
    assert got.count == count
    np.testing.assert_array_equal(got.labels, want)
    assert got.bboxes == ndi.find_objects(want)


@pytest.mark.parametrize("shape", [(40, 44), (10, 12, 14)])
def test_default_connectivity_is_full_in_2d_and_3d_as_scikit_image(rng, shape):
    # Before, the default was 26, which a 2D mask refused: label(mask_2d) raised.
    mask = blobs(rng, shape)
    # Around the blobs, a margin of 3 holding a diagonal pair of voxels: one object of 2 voxels with
    # all neighbours (two with faces only), always there for remove_small_objects to remove. The blobs
    # alone of a 10x12x14 draw had no object under 5 voxels, or 3 objects or fewer, in 1 draw in 30;
    # they are one object or more.
    mask = np.pad(mask, 3)
    mask[(0,) * mask.ndim] = mask[(1,) * mask.ndim] = True
    got = label(mask)
    want, count = skimage.measure.label(mask, return_num=True)  # connectivity=None: all neighbours
    assert count >= 2  # the pair and the blobs (one or more: 1 draw in about 1000 joins them all)
    assert got.count == count
    assert_same_partition(got.labels, want)
    new = "max_size" in inspect.signature(skimage.morphology.remove_small_objects).parameters
    size = {"max_size": 4} if new else {"min_size": 5}
    kept = skimage.morphology.remove_small_objects(mask, **size, connectivity=mask.ndim)
    np.testing.assert_array_equal(remove_small_objects(mask, min_voxels=5), kept)


@pytest.mark.parametrize("connectivity", [6, 26])
def test_dask_label_merges_across_chunks(rng, connectivity, ct_crop):
    da = pytest.importorskip("dask.array")
    crop, _ = ct_crop
    for mask, chunks in (
        (blobs(rng, (23, 19, 21), 0.55), ((5, 9, 9), (7, 12), (10, 1, 10))),
        (crop > -400, ((6, 10), (20, 44), (33, 31))),
    ):
        got = label(da.from_array(mask, chunks=chunks), connectivity)
        assert isinstance(got.labels, da.Array)
        want, count = ndi.label(mask, ndi.generate_binary_structure(3, RANK[connectivity]))
        computed = got.labels.compute()
        assert got.count == count >= 1
        assert_same_partition(computed, want)
        # sizes and boxes follow the same permutation
        order = [int(np.unique(want[computed == k])[0]) for k in range(1, count + 1)]
        np.testing.assert_array_equal(got.sizes, np.bincount(want.ravel())[1:][np.array(order) - 1])
        boxes = ndi.find_objects(want)
        assert got.bboxes == [boxes[o - 1] for o in order]


@pytest.mark.parametrize(
    ("spacing", "side", "mm3"),
    [
        (0.7, 10, 343.0),
        (0.35, 5, 5.359375),
        (0.85, 3, 16.581375),
        (0.3, 10, 27.0),
        ((0.5, 0.7, 0.9), 10, 315.0),
    ],
)
def test_an_object_of_exactly_min_size_mm3_is_kept(spacing, side, mm3):
    # Closed form: a cube of side³ voxels of spacing³ mm holds mm3 mm³ exactly, and only smaller
    # objects go. 1000 voxels of 0.7³ mm summed to 342.99999999999994 mm³ (27 of 0.85³ to
    # 16.581374999999998), so the cube went at min_size_mm3=343 (16.581375).
    mask = np.pad(np.ones((side,) * 3, bool), 2)
    np.testing.assert_array_equal(remove_small_objects(mask, mm3, spacing=spacing), mask)
    # one voxel more is too many: the object goes, as scikit-image's remove_small_objects has it
    voxel = float(np.prod(np.broadcast_to(spacing, 3)))
    assert not remove_small_objects(mask, mm3 + voxel, spacing=spacing).any()


@pytest.mark.parametrize("connectivity", [6, 26])
def test_remove_small_objects_equals_scikit_image(rng, connectivity):
    # Around the blobs, a margin of 3 holding a diagonal pair of voxels, an object of under 20 voxels
    # for either connectivity: with 26, the blobs alone had none in 1 draw in 100.
    mask = np.pad(blobs(rng, (14, 15, 16), 0.53), 3)
    mask[0, 0, 0] = mask[1, 1, 1] = True
    got = remove_small_objects(mask, min_voxels=20, connectivity=connectivity)
    # scikit-image 0.26 replaced min_size (smaller objects go) with max_size (objects up to it go).
    new = "max_size" in inspect.signature(skimage.morphology.remove_small_objects).parameters
    size = {"max_size": 19} if new else {"min_size": 20}
    want = skimage.morphology.remove_small_objects(mask, **size, connectivity=RANK[connectivity])
    assert want.sum() > 0
    np.testing.assert_array_equal(got, want)
    by_volume = remove_small_objects(mask, 40.0, connectivity=connectivity, spacing=(2.0, 1.0, 1.0))
    np.testing.assert_array_equal(by_volume, want)
    da = pytest.importorskip("dask.array")
    lazy = remove_small_objects(
        da.from_array(mask, chunks=(5, 8, 7)), min_voxels=20, connectivity=connectivity
    )
    assert isinstance(lazy, da.Array)
    np.testing.assert_array_equal(lazy.compute(), want)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16])
def test_remove_small_objects_of_an_integer_mask_equals_scikit_image_of_its_bool(rng, dtype):
    # Non-zero voxels of any value are the mask, joined by connectivity (scikit-image would take
    # the integer array as labels: the two corner voxels of label 1 would be one object of 2).
    mask = np.zeros((6, 7, 8), dtype)
    mask[0, 0, 0] = mask[5, 6, 7] = 1
    mask[2:4, 2:5, 2:5] = rng.integers(1, 4, (2, 3, 3))
    got = remove_small_objects(mask, min_voxels=2, connectivity=26)
    new = "max_size" in inspect.signature(skimage.morphology.remove_small_objects).parameters
    size = {"max_size": 1} if new else {"min_size": 2}
    want = skimage.morphology.remove_small_objects(mask.astype(bool), **size, connectivity=3)
    assert got.dtype == bool and int(want.sum()) == 18
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("chunks", [None, (3, 4, 5)])
def test_nan_voxels_of_a_float_mask_are_background(rng, chunks):
    """A float mask (a resampled label image, a probability map) with NaN where it has no value: its
    ROI is its non-zero voxels with NaN left out (gpuimg's one rule, _arrays.roi_voxels). NaN != 0, so
    they were foreground: a NaN bridge joined two blobs and NaN-only specks survived."""
    inside = blobs(rng, (8, 10, 12))
    mask = np.where(inside, rng.uniform(0.5, 2.0, inside.shape), 0.0)
    mask[rng.random(mask.shape) > 0.8] = np.nan
    roi = (mask != 0) & ~np.isnan(mask)
    given = mask if chunks is None else __import__("dask.array").array.from_array(mask, chunks=chunks)
    got = label(given, 26)
    want, count = ndi.label(roi, np.ones((3, 3, 3)))
    assert got.count == count
    assert_same_partition(got.labels, want)
    np.testing.assert_array_equal(np.sort(got.sizes), np.sort(np.bincount(want.ravel())[1:]))
    new = "max_size" in inspect.signature(skimage.morphology.remove_small_objects).parameters
    size = {"max_size": 2} if new else {"min_size": 3}
    kept = skimage.morphology.remove_small_objects(roi, **size, connectivity=3)
    np.testing.assert_array_equal(np.asarray(remove_small_objects(given, min_voxels=3)), kept)
    if chunks is None:
        np.testing.assert_array_equal(fill_holes(mask), ndi.binary_fill_holes(roi))


def test_fill_holes_3d_and_per_slice():
    shell = np.zeros((7, 9, 9), bool)
    shell[1:6, 2:7, 2:7] = True
    shell[2:5, 3:6, 3:6] = False  # a closed cavity
    np.testing.assert_array_equal(fill_holes(shell), ndi.binary_fill_holes(shell))
    assert fill_holes(shell)[3, 4, 4]
    tube = np.zeros((5, 9, 9), bool)
    tube[:, 2:7, 2:7] = True
    tube[:, 4, 4] = False  # open at both ends in 3D, a hole in every slice
    assert not fill_holes(tube)[2, 4, 4]
    per_slice = fill_holes(tube, slice_by_slice=True)
    want = np.stack([ndi.binary_fill_holes(s) for s in tube])
    np.testing.assert_array_equal(per_slice, want)
    assert per_slice[2, 4, 4]


def test_fill_holes_refuses_an_axis_without_slice_by_slice():
    """fill_holes(mask, axis=1) filled the holes in 3D, as scipy.ndimage.binary_fill_holes(mask), the
    axis unused without a word; a vessel along y (open in 3D, a hole in each y slice) stayed open.
    Refused; with slice_by_slice=True the axis is taken, as binary_fill_holes of each slice along it."""
    organ = np.zeros((7, 9, 8), bool)
    organ[1:6, :, 1:7] = True
    organ[3, :, 4] = False  # a vessel along y, through the whole organ
    assert not ndi.binary_fill_holes(organ)[3, 4, 4]
    for axis in (1, 0, -1):
        with pytest.raises(
            gpuimg.ParameterError,
            match=rf"^axis={axis} is used only with slice_by_slice=True \(the axis across the slices "
            r"filled one by one\); add slice_by_slice=True, or leave axis out to fill the holes in 3D\.$",
        ):
            fill_holes(organ, axis=axis)
    with pytest.raises(gpuimg.ParameterError, match=r"^axis=0 .*; leave it out for a 2D mask, filled as"):
        fill_holes(organ[3], axis=0)
    want = np.stack([ndi.binary_fill_holes(s) for s in np.moveaxis(organ, 1, 0)], axis=1)
    assert want[3, 4, 4]
    np.testing.assert_array_equal(fill_holes(organ, slice_by_slice=True, axis=1), want)
    np.testing.assert_array_equal(fill_holes(organ), ndi.binary_fill_holes(organ))


@pytest.mark.parametrize("axis", [0, 3])
def test_fill_holes_of_a_mask_with_an_extra_axis_is_refused(axis):
    """A mask with an extra axis of length 1 (a NIfTI's 4th axis of one time point, a batch axis) was
    filled in 4D, where every background voxel lies on the edge of that axis, so no hole was filled,
    without a word. Refused, as label refuses it, with the np.squeeze that gives the 3D fill."""
    shell = np.zeros((7, 9, 9), bool)
    shell[1:6, 2:7, 2:7] = True
    shell[2:5, 3:6, 3:6] = False  # a closed cavity of 27 voxels
    extra = np.expand_dims(shell, axis)
    with pytest.raises(
        gpuimg.ParameterError,
        match=rf"^the mask must be 2D or 3D; got 4D, shape {re.escape(str(extra.shape))}: drop the "
        rf"extra axis of length 1 with np.squeeze\(mask, axis={axis}\)\.$",
    ):
        fill_holes(extra)
    filled = fill_holes(np.squeeze(extra, axis=axis))
    np.testing.assert_array_equal(filled, ndi.binary_fill_holes(shell))
    assert filled.sum() == shell.sum() + 27


def test_fill_holes_per_slice_on_real_ct(ct_crop):
    crop, _ = ct_crop
    body = crop > -500
    want = np.stack([ndi.binary_fill_holes(s) for s in body])
    np.testing.assert_array_equal(fill_holes(body, slice_by_slice=True), want)
    np.testing.assert_array_equal(fill_holes(body), ndi.binary_fill_holes(body))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m: label(m, 8), "connectivity=8 is not one of [6, 18, 26]"),
        (lambda m: label(m[0, 0]), "2D or 3D"),
        (lambda m: remove_small_objects(m), "give one of min_size_mm3"),
        (lambda m: remove_small_objects(m, 1.0, min_voxels=3), "give one of min_size_mm3"),
        (lambda m: remove_small_objects(m, min_voxels="many"), "min_voxels='many' must be a finite number"),
        (lambda m: remove_small_objects(m, min_voxels=[3]), "min_voxels=[3] must be a finite number"),
        (lambda m: remove_small_objects(m, min_voxels=float("nan")), "min_voxels=nan must be a finite"),
        (lambda m: remove_small_objects(m, min_voxels=-2), "min_voxels=-2 must be a finite number"),
        (lambda m: remove_small_objects(m, float("nan"), spacing=1.0), "min_size_mm3=nan must be a finite"),
        (lambda m: remove_small_objects(m, float("inf"), spacing=1.0), "min_size_mm3=inf must be a finite"),
        (lambda m: fill_holes(m[0], slice_by_slice=True), "needs a 3D mask"),
        (lambda m: fill_holes(__import__("dask.array").array.from_array(m)), "pass mask.compute()"),
    ],
)
def test_bad_input(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((5, 6, 7)) > 0.5)
    assert message in str(caught.value)


@pytest.mark.cudasim
@pytest.mark.parametrize("shape", [(30, 31), (12, 13, 40)])
def test_cuda_sizes_and_boxes_equal_scipy(rng, on_cuda_target, shape):
    """The simulated CUDA kernel (atomics per run of a row segment; rows of 40 span two segments)
    against bincount and find_objects."""
    mask = blobs(rng, shape)
    want, count = ndi.label(mask)
    assert count > 1
    got = label(on_cuda_target(mask), 4 if len(shape) == 2 else 6)
    np.testing.assert_array_equal(got.sizes, np.bincount(want.ravel())[1:])
    assert got.bboxes == ndi.find_objects(want)


@pytest.mark.cudasim
@pytest.mark.parametrize("shape", [(0, 4, 5), (3, 4, 5)])
def test_no_components_on_either_target(on_cuda_target, shape):
    """An empty volume (nothing to launch) and an all-background one: no labels, sizes or boxes."""
    for mask in (np.zeros(shape, bool), on_cuda_target(np.zeros(shape, bool))):
        got = label(mask)
        assert got.count == 0 and got.sizes.shape == (0,) and got.bboxes == []
