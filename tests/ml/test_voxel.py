import warnings

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.feature
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

import gpuimg
from gpuimg.datasets import ct_phantom
from gpuimg.datasets.phantom import AIR, BONE, LUNG
from gpuimg.errors import ParameterError
from gpuimg.ml import VoxelClassifier, dbscan_candidates, dice, segment_kmeans, segment_som, voxel_features

SHAPE = (24, 64, 64)


@pytest.fixture(scope="module")
def phantom():
    """The noisy phantom and its tissue classes (0 air, 1 lung, 2 soft tissue and lesions, 3 bone),
    read from the same phantom without noise (the noise is drawn last, so the geometry is the same)."""
    ct = ct_phantom(SHAPE, seed=3)
    clean = ct_phantom(SHAPE, seed=3, noise_hu=0.0).data
    truth = np.full(SHAPE, 2, np.int32)
    truth[clean == AIR] = 0
    truth[clean == LUNG] = 1
    truth[clean == BONE] = 3
    return ct, truth


def test_segment_kmeans_recovers_the_tissues(phantom):
    ct, truth = phantom
    labels = segment_kmeans(ct.data, 4)
    assert labels.dtype == np.int32 and labels.shape == SHAPE
    for tissue in range(4):
        assert dice(labels == tissue, truth == tissue) >= 0.95, tissue


def test_segment_som_on_balanced_classes(rng):
    # Four equally large classes 300 HU apart, noise 20 HU: the four nodes settle on them. (On the
    # chest phantom, where bone is under 1% of the voxels, the map gives bone no node of its own.)
    truth = rng.integers(0, 4, (16, 16, 16))
    image = (truth * 300.0 - 400.0 + rng.normal(0, 20, truth.shape)).astype(np.int16)
    labels, centres = segment_som(image, 4, return_centers=True)
    np.testing.assert_allclose(centres, [-400, -100, 200, 500], atol=10)  # means of ~1000 voxels
    assert (labels == truth).mean() > 0.99


def test_segment_kmeans_equals_kmeans_on_integer_voxels(rng):
    # One bin per integer value: Lloyd on the histogram is Lloyd on the voxels. Started from the
    # same centres, scikit-learn's KMeans ends at the same centres (to float rounding) and labels.
    image = np.concatenate([rng.normal(m, 20, 2000) for m in (-300, 0, 150, 600)]).astype(np.int16)
    labels, centres = segment_kmeans(image, 4, return_centers=True)
    peer = KMeans(4, init=np.asarray(centres)[:, None], n_init=1, tol=0, algorithm="lloyd").fit(
        image[:, None].astype(float)
    )
    # scikit-learn's float64 sums of the voxels are off by up to n eps max|x| (n voxels, the float64
    # summation bound): 4e-12 on a centre of -0.0025, 1.8e-9 of it relative, as 1 draw in 150 gave.
    bound = image.size * np.finfo(np.float64).eps * np.abs(image).max()
    np.testing.assert_allclose(np.sort(peer.cluster_centers_.ravel()), centres, rtol=1e-9, atol=bound)
    np.testing.assert_array_equal(labels, np.argsort(np.argsort(peer.cluster_centers_.ravel()))[peer.labels_])


def test_segment_kmeans_mask_and_float(rng):
    image = np.where(rng.random((10, 10, 10)) < 0.5, -1.0, 1.0) + rng.normal(0, 0.05, (10, 10, 10))
    mask = np.zeros(image.shape, bool)
    mask[:, :5] = True
    labels = segment_kmeans(image, 2, mask=mask)
    assert (labels[~mask] == -1).all()
    np.testing.assert_array_equal(labels[mask], (image[mask] > 0).astype(np.int32))


@pytest.mark.parametrize("segment", [segment_kmeans, segment_som])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32])
def test_a_mask_of_any_dtype_selects_its_non_zero_voxels(rng, segment, dtype):
    # 300 slices: a uint8 mask inverted bitwise (255 and 254) indexed slices 254 and 255 instead of
    # the voxels outside the mask, silently.
    image = np.where(rng.random((300, 3, 4)) < 0.5, -1.0, 1.0) + rng.normal(0, 0.05, (300, 3, 4))
    mask = rng.random(image.shape) < 0.5
    labels = segment(image, 2, mask=mask.astype(dtype))
    assert (labels[~mask] == -1).all()
    np.testing.assert_array_equal(labels[mask], (image[mask] > 0).astype(np.int32))


@pytest.mark.parametrize("value", [5.0, 1e30, -3e38])
def test_an_image_of_one_value_is_one_cluster(value):
    image = np.full((3, 4, 5), value, np.float32)
    for segment in (segment_kmeans, segment_som):
        with pytest.warns(ConvergenceWarning, match="1 distinct cluster, fewer than k=3"):
            labels, centres = segment(image, 3, return_centers=True)
        assert (labels == 0).all()
        np.testing.assert_allclose(centres, np.float32(value), rtol=1e-6)


def test_float32_values_spanning_their_whole_range_cluster(rng):
    # NumPy bins float32 values in float32, where max - (-max) overflows: an IndexError before.
    top = np.finfo(np.float32).max
    image = np.array([-top, -top, 0.0, top, top, top], np.float32).reshape(1, 2, 3)
    labels, centres = segment_kmeans(image, 2, return_centers=True)
    flat, values = labels.ravel(), image.ravel().astype(np.float64)
    assert flat[0] == 0 and flat[-1] == 1  # the extremes apart
    # A fixed point of Lloyd's iterations: each centre the mean of its voxels (to the bins' width).
    means = [values[flat == k].mean() for k in (0, 1)]
    np.testing.assert_allclose(centres, means, rtol=0, atol=2 * float(top) / 4096)


def test_dbscan_candidates(rng):
    mask = np.zeros((20, 20, 20), bool)
    mask[2:5, 2:5, 2:5] = True
    mask[12:16, 12:16, 10:14] = True
    mask[18, 0, 19] = True  # a lone voxel: noise
    labels = dbscan_candidates(mask, eps_mm=2.0, min_samples=3, spacing=(2.0, 1.0, 1.0))
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[18, 0, 19] == 0
    assert np.unique(labels[2:5, 2:5, 2:5]).size == 1 and np.unique(labels[12:16, 12:16, 10:14]).size == 1
    # Along z the spacing is 2 mm: eps 1.5 mm leaves every z slice of a blob apart.
    points = np.argwhere(mask[:, :10, :10])
    assert np.unique(dbscan_candidates(points, eps_mm=1.5, min_samples=3, spacing=(2.0, 1.0, 1.0))).size == 3


def test_voxel_classifier_from_scribbles(phantom):
    ct, truth = phantom
    image = ct.data[8:16]
    target = truth[8:16]
    scribbles = np.zeros(target.shape, np.int32)
    picker = np.random.default_rng(0)
    for tissue in range(4):
        where = np.flatnonzero(target.ravel() == tissue)
        scribbles.ravel()[picker.choice(where, 40, replace=False)] = tissue + 1
    model = VoxelClassifier(sigmas=(1.0, 2.0), n_estimators=20, random_state=0).fit(image, scribbles)
    predicted = model.predict(image)
    assert predicted.shape == image.shape
    for tissue in range(4):
        assert dice(predicted == tissue + 1, target == tissue) >= 0.9, tissue
    assert voxel_features(image, (1.0, 2.0)).shape == (image.size, 1 + 2 * 6)


def test_voxel_features_larger_than_the_memory_budget_are_refused_first(monkeypatch):
    """A 512 x 512 x 300 CT at 3 scales needs a 6 GiB table (19 float32 features a voxel) and the
    Hessian's images: refused before any of it is allocated (regression: no check)."""
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    image = np.zeros((20, 40, 40), np.float32)  # 32000 voxels x (19 + 11) x 4 bytes = 3.7 MiB
    with pytest.raises(
        gpuimg.MemoryBudgetError, match=r"voxel_features of an image of shape \(20, 40, 40\) at 3 scales"
    ):
        voxel_features(image)
    with pytest.raises(gpuimg.MemoryBudgetError, match=r"at 1 scale \(a table of 7 float32 features"):
        voxel_features(image, sigmas=(1.0,))
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "4M")
    assert voxel_features(image).shape == (32000, 19)


def test_bad_voxel_inputs(rng):
    image = rng.normal(size=(6, 6, 6))
    with pytest.raises(ParameterError, match="k="):
        segment_kmeans(image, 1)
    with pytest.raises(ParameterError, match="mask"):
        segment_kmeans(image, 2, mask=np.zeros((6, 6), bool))
    with pytest.raises(ParameterError, match="no voxel"):
        segment_kmeans(image, 2, mask=np.zeros(image.shape, bool))
    with pytest.raises(ParameterError, match="eps_mm"):
        dbscan_candidates(image > 0, eps_mm=0)
    with pytest.raises(ParameterError, match="shape"):
        VoxelClassifier(sigmas=(1.0,)).fit(image, np.ones((6, 6)))
    with pytest.raises(ParameterError, match="one class"):
        VoxelClassifier(sigmas=(1.0,)).fit(image, np.ones(image.shape, int))
    # No positive scribble at all was scikit-learn's "X has 0 sample(s)".
    with pytest.raises(ParameterError, match="scribbles mark no voxel"):
        VoxelClassifier(sigmas=(1.0,)).fit(image, -np.ones(image.shape, int))


def test_voxel_classifier_scribbles_lie_on_the_images_grid(phantom):
    """Scribbles are read on the image's voxels: a Volume on the same grid trains the same forest as
    its voxels; a Volume 2 slices off, mirrored, or an array of another shape with the image's number
    of voxels (a (z, x, y) label map) is refused (regression: all three trained on the wrong voxels
    without a word)."""
    ct, truth = phantom
    image = gpuimg.Volume(ct.data[8:16], spacing=(2.0, 0.7, 0.7), origin=(-20.0, 10.0, -5.0))
    scribbles = np.zeros(image.shape, np.int32)
    picker = np.random.default_rng(0)
    for tissue in range(4):
        where = np.flatnonzero(truth[8:16].ravel() == tissue)
        scribbles.ravel()[picker.choice(where, 40, replace=False)] = tissue + 1
    same = gpuimg.Volume(scribbles, spacing=image.spacing, origin=image.origin)
    model = VoxelClassifier(sigmas=(1.0,), n_estimators=10, random_state=0)
    by_volume = model.fit(image, same).predict(image).data
    np.testing.assert_array_equal(by_volume, model.fit(image, scribbles).predict(image).data)
    shifted = gpuimg.Volume(scribbles, spacing=image.spacing, origin=(-20.0, 10.0, -1.0))  # LPS z: 2 slices
    with pytest.raises(gpuimg.GeometryError, match=r"VoxelClassifier.fit: .*origin \(-20.0, 10.0, -1.0\)"):
        model.fit(image, shifted)
    mirrored = gpuimg.Volume(
        scribbles, spacing=image.spacing, origin=image.origin, direction=np.diag([1.0, -1.0, 1.0])
    )
    with pytest.raises(gpuimg.GeometryError, match="a flipped or rotated grid"):
        model.fit(image, mirrored)
    with pytest.raises(
        ParameterError, match=r"scribbles must have the image's shape \(8, 64, 64\); got \(64, 8, 64\)"
    ):
        model.fit(image.data, scribbles.transpose(1, 0, 2))


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16])
def test_dbscan_takes_the_masks_gpuimg_makes_and_volumes(dtype):
    """Regression: uint8 and int16 masks (those of the cohort recipes and mask files) were taken for
    point tables. eps in voxels is DBSCAN on the voxel indices; eps_mm on their positions in mm."""
    from sklearn.cluster import DBSCAN

    mask = np.zeros((8, 10, 12), dtype)
    mask[1:3, 1:4, 1:4] = 1
    mask[5:7, 6:9, 5:8] = 1
    points = np.argwhere(mask)
    got = dbscan_candidates(mask, eps=1.5, min_samples=3)
    want = DBSCAN(eps=1.5, min_samples=3).fit(points).labels_ + 1
    np.testing.assert_array_equal(got[mask != 0], want)
    volume = gpuimg.Volume(mask, spacing=(4.0, 1.0, 1.0))
    in_mm = dbscan_candidates(volume, eps_mm=1.5, min_samples=3)
    assert isinstance(in_mm, gpuimg.Volume) and in_mm.spacing == volume.spacing
    # 4 mm between slices: eps 1.5 mm keeps each slice of each blob apart.
    want_mm = DBSCAN(eps=1.5, min_samples=3).fit(points * [4.0, 1.0, 1.0]).labels_ + 1
    np.testing.assert_array_equal(in_mm.data[mask != 0], want_mm)
    assert in_mm.data.max() == 4
    with pytest.raises(ParameterError, match=r"eps_mm=1\.5 needs the voxel spacing"):
        dbscan_candidates(mask, eps_mm=1.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dbscan_leaves_a_float_masks_nan_voxels_out(dtype):
    """A float mask (a resampled label image, NaN outside the field of view) had its NaN voxels in
    the ROI (NaN != 0): a 12-voxel strip of NaN came out as a candidate of its own. gpuimg's masks
    leave NaN voxels out; reference: scikit-learn's DBSCAN on the indices of the voxels that are
    non-zero and not NaN."""
    from sklearn.cluster import DBSCAN

    mask = np.zeros((4, 6, 12), dtype)
    mask[1:3, 1:3, 1:3] = 1.0
    mask[1:3, 1:3, 8:10] = 0.7
    mask[0, :, 5:7] = np.nan
    inside = (mask != 0) & ~np.isnan(mask)
    want = np.zeros(mask.shape, np.int32)
    want[inside] = DBSCAN(eps=1.5, min_samples=3).fit(np.argwhere(inside)).labels_ + 1
    got = dbscan_candidates(mask, eps=1.5, min_samples=3)
    np.testing.assert_array_equal(got, want)
    assert got.max() == 2


def test_segmentations_of_a_volume_are_volumes(phantom):
    ct, _ = phantom
    for segment in (segment_kmeans, segment_som):
        got = segment(ct, 3)
        assert isinstance(got, gpuimg.Volume) and got.spacing == ct.spacing and got.origin == ct.origin
        np.testing.assert_array_equal(got.data, segment(ct.data, 3))
    labels, centres = segment_kmeans(ct, 3, return_centers=True)
    assert isinstance(labels, gpuimg.Volume) and centres.shape == (3,)


def test_unfitted_voxel_classifier_raises_not_fitted_error(rng):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="call fit\\(image, scribbles\\)"):
        VoxelClassifier().predict(rng.normal(size=(4, 4, 4)))


def test_voxel_feature_scales_in_voxels_or_mm(rng):
    image = rng.normal(size=(6, 7, 8)).astype(np.float32)
    volume = gpuimg.Volume(image, spacing=(2.0, 1.0, 1.0))
    in_mm = voxel_features(volume, sigmas_mm=(2.0,))
    np.testing.assert_array_equal(in_mm, voxel_features(volume, sigmas=[(1.0, 2.0, 2.0)]))
    smoothed = in_mm[:, 1].reshape(image.shape)
    np.testing.assert_allclose(smoothed, ndi.gaussian_filter(image, (1.0, 2.0, 2.0)), rtol=1e-6)
    with pytest.raises(ParameterError, match=r"sigmas_mm=2\.0 needs the voxel spacing"):
        voxel_features(image, sigmas_mm=(2.0,))


@pytest.mark.parametrize("shape", [(1, 9, 11), (9, 1, 11), (1, 1, 11), (1, 1, 1)])
def test_voxel_features_of_a_volume_one_voxel_thick(rng, shape):
    # scikit-image's finite differences need two voxels along an axis; along an axis of one voxel
    # the image does not change, so the Hessian has a 0 eigenvalue there. Reference: scikit-image's
    # Hessian of the image without those axes (NumPy's second difference for a profile), with the
    # zeros added, largest first.
    image = rng.random(shape).astype(np.float32)
    features = voxel_features(image, sigmas=(1.5,))
    thin = image.reshape([n for n in shape if n > 1])
    if thin.ndim == 2:
        hessian = skimage.feature.hessian_matrix(
            thin, sigma=1.5, mode="reflect", order="rc", use_gaussian_derivatives=False
        )
        values = list(skimage.feature.hessian_matrix_eigvals(hessian))
    elif thin.ndim == 1:
        values = [np.gradient(np.gradient(ndi.gaussian_filter(thin, 1.5, mode="reflect")))]
    else:
        values = []
    values += [np.zeros(thin.shape, np.float32)] * (3 - thin.ndim)
    expected = np.sort(np.stack(values), axis=0)[::-1].reshape(3, -1).T
    np.testing.assert_allclose(features[:, 4:], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(features[:, 0], image.ravel())
    np.testing.assert_allclose(features[:, 1], ndi.gaussian_filter(image, 1.5).ravel(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "bad", [{"eps": True}, {"eps_mm": True, "spacing": 1.0}, {"eps": 1.5, "min_samples": True}]
)
def test_dbscan_refuses_a_bool_for_a_number(bad):
    # eps=True ran as a radius of 1 voxel, min_samples=True as 1 neighbour (every point a core
    # point); a bool is refused as elsewhere in gpuimg. The numbers they stood for still cluster as
    # scikit-learn's DBSCAN.
    from sklearn.cluster import DBSCAN

    points = np.random.default_rng(0).uniform(0, 10, size=(40, 2))
    with pytest.raises(ParameterError, match=r"(eps|eps_mm|min_samples)=True must be"):
        dbscan_candidates(points, **{"min_samples": 3, **bad})
    expected = DBSCAN(eps=1.0, min_samples=1).fit(points).labels_
    assert np.array_equal(dbscan_candidates(points, eps=1, min_samples=1), expected)


def test_scribbles_of_one_class_or_of_fractions_are_named(rng):
    # One class, or labels 1.5 and 2.5 (refused by scikit-learn's forest too: 'Unknown label type:
    # continuous'), were refused in words of a 'y' the user never gave ('y holds one class only', 'y
    # holds continuous values'), after the features of the whole image were computed.
    from sklearn.ensemble import RandomForestClassifier

    image = rng.normal(size=(4, 8, 8))
    one = np.zeros(image.shape, np.uint8)
    one[:, 2, 2] = 1
    halves = one * 1.5
    halves[:, 5, 5] = 2.5
    marked = halves.ravel() > 0
    with pytest.raises(ValueError, match="continuous"):
        RandomForestClassifier(n_estimators=2).fit(image.reshape(-1, 1)[marked], halves.ravel()[marked])
    for scribbles, message in (
        (one, r"scribbles mark one class only \(\[1\]\)"),
        (one.astype(bool), r"scribbles mark one class only \(\[True\]\)"),
        (halves, r"scribbles hold labels that are not whole numbers \(\[1.5, 2.5\]\)"),
    ):
        with pytest.raises(ParameterError, match=message):
            VoxelClassifier(sigmas=(1.0,), n_estimators=2).fit(image, scribbles)
    model = VoxelClassifier(sigmas=(1.0,), n_estimators=2, random_state=0).fit(image, halves * 2)
    assert model.classes_.tolist() == [3.0, 5.0]


def test_dbscan_of_a_mask_whose_neighbourhoods_exceed_the_memory_budget_is_refused_first(monkeypatch):
    # scikit-learn's DBSCAN keeps every voxel's neighbours (8-byte indices) at once; nothing checked
    # them, and a large mask at a large radius ran the process out of memory. The neighbours of a
    # voxel inside a 40^3 cube within 6 voxels are the lattice points of that ball, counted here by
    # brute force (925); 64,000 voxels of 925 neighbours need 474 MB.
    from sklearn.cluster import DBSCAN

    offsets = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing="ij")).reshape(3, -1)
    inside = int(((offsets**2).sum(0) <= 36).sum())
    assert inside == 925
    mask = np.ones((40, 40, 40), bool)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(8 * 40**3 * inside - 1))
    with pytest.raises(
        gpuimg.MemoryBudgetError, match=r"64000 mask voxels within eps=6 \(up to 925 neighbours each"
    ):
        dbscan_candidates(mask, eps=6)
    with pytest.raises(gpuimg.MemoryBudgetError, match=r"within eps_mm=12.0 \(up to 925 neighbours"):
        dbscan_candidates(gpuimg.Volume(mask, spacing=(2.0, 2.0, 2.0)), eps_mm=12.0)
    # Within the budget (a smaller mask, or a budget of the bytes asked for), the clusters are
    # scikit-learn's.
    small = mask[:10, :10, :10]
    points = np.argwhere(small)
    want = DBSCAN(eps=5.9, min_samples=5).fit_predict(points) + 1
    np.testing.assert_array_equal(dbscan_candidates(small, eps=5.9)[tuple(points.T)], want)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(8 * 40**3 * inside))
    assert dbscan_candidates(mask[:, :, :20], eps=6).max() == 1
    with pytest.raises(ParameterError, match=r"eps=inf must be a positive, finite distance"):
        dbscan_candidates(mask, eps=np.inf)


def test_fewer_distinct_intensities_than_k_warn_as_scikit_learn_kmeans_does():
    # [0, 0, 1, 1] with k=4 gave the centres [0, 0, 1, 1] and the labels 0 and 2 without a word;
    # scikit-learn's KMeans warns on the same voxels.
    image = np.array([[[0, 0, 1, 1]]], np.int16)
    voxels = image.reshape(-1, 1).astype(np.float64)
    distinct = r"Number of distinct clusters \(2\) found smaller than n_clusters \(4\)"
    with pytest.warns(ConvergenceWarning, match=distinct):
        reference = KMeans(4, n_init=1, random_state=0).fit(voxels)
    with pytest.warns(
        ConvergenceWarning, match=r"found 2 distinct clusters, fewer than k=4.* Pass k=2 or less"
    ):
        labels, centres = segment_kmeans(image, 4, return_centers=True)
    assert adjusted_rand_score(reference.labels_, labels.ravel()) == 1.0  # the same two clusters
    np.testing.assert_array_equal(centres[labels.ravel()], image.ravel())  # each voxel's centre its value
    # With k the number of values, neither warns, and the partitions agree.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reference = KMeans(2, n_init=1, random_state=0).fit(voxels)
        assert adjusted_rand_score(reference.labels_, segment_kmeans(image, 2).ravel()) == 1.0
    with pytest.warns(
        ConvergenceWarning, match=r"found 1 distinct cluster, fewer than k=3.* Every voxel is in cluster 0"
    ):
        assert (segment_kmeans(np.full((2, 2, 2), 5.0), 3) == 0).all()


def test_a_som_of_more_nodes_than_intensities_warns_as_scikit_learn_kmeans_does():
    # The same voxels through segment_som: its nodes [0, 6e-8, 1, 1] gave the labels 0 and 3 only,
    # without a word. The two clusters it finds are scikit-learn's KMeans' (which warns too).
    image = np.array([[[0, 0, 1, 1]]], np.int16)
    with pytest.warns(ConvergenceWarning, match=r"Number of distinct clusters \(2\)"):
        reference = KMeans(4, n_init=1, random_state=0).fit(image.reshape(-1, 1).astype(np.float64))
    with pytest.warns(
        ConvergenceWarning, match=r"segment_som found 2 distinct clusters, fewer than k=4.* Pass k=2 or less"
    ) as caught:
        labels = segment_som(image, 4)
    assert caught[0].filename == __file__  # the caller's line
    assert adjusted_rand_score(reference.labels_, labels.ravel()) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert adjusted_rand_score(reference.labels_, segment_som(image, 2).ravel()) == 1.0


def test_radii_beyond_float_range_are_refused_and_huge_ones_join_everything():
    # eps=10**400 (an int beyond float's range) gave a bare OverflowError, and on a mask eps=1e200 too
    # (its square, counting the neighbours); the first is refused naming eps, the second is one cluster
    # as scikit-learn's DBSCAN says.
    from sklearn.cluster import DBSCAN

    mask = np.zeros((4, 5, 6), bool)
    mask[0, 0, 0] = mask[3, 4, 5] = mask[1, 2, 3] = True
    points = np.argwhere(mask).astype(float)
    for data in (mask, points):
        with pytest.raises(ParameterError, match=r"eps=an int of 401 digits must be a positive, finite"):
            dbscan_candidates(data, eps=10**400, min_samples=2)
    want = DBSCAN(eps=1e200, min_samples=2).fit_predict(points)
    np.testing.assert_array_equal(dbscan_candidates(points, eps=1e200, min_samples=2), want)
    np.testing.assert_array_equal(dbscan_candidates(mask, eps=1e200, min_samples=2)[mask], want + 1)


def test_voxel_features_of_values_beyond_float32_say_so():
    # A float64 voxel of 1e39 (finite) became inf in the float32 cast and was called 'NaN or inf'.
    image = np.zeros((4, 5, 6))
    image[1, 2, 3] = -1e39
    with pytest.raises(
        ParameterError, match=r"beyond float32's range \(up to 1e\+39 in magnitude; .*rescale"
    ):
        voxel_features(image, sigmas=(1.0,))
    # Within float32's range (3e38) the intensity column is the float32 of the voxels, as NumPy casts.
    image[1, 2, 3] = 3e38
    np.testing.assert_array_equal(
        voxel_features(image, sigmas=(1.0,))[:, 0], image.astype(np.float32).ravel()
    )


def _reference_derivatives(image, sigma, spacing):
    """SciPy and NumPy per mm: the Sobel magnitude of the smoothed image with each derivative divided
    by its spacing, the sum of SciPy's second-derivative-of-Gaussian passes (gaussian_laplace's) each
    divided by its spacing squared, and the eigenvalues of NumPy's finite-difference Hessian of the
    smoothed image (np.gradient with the spacing), largest first; in float64."""
    smoothed = ndi.gaussian_filter(image, sigma)
    gradient = np.sqrt(sum((ndi.sobel(smoothed, a) / spacing[a]) ** 2 for a in range(image.ndim)))
    laplacian = sum(
        ndi.gaussian_filter(image, sigma, order=[2 * (a == b) for b in range(image.ndim)]) / spacing[a] ** 2
        for a in range(image.ndim)
    )
    first = np.gradient(ndi.gaussian_filter(image, sigma, mode="reflect"), *spacing)
    hessian = np.stack([np.stack(np.gradient(d, *spacing)) for d in first])
    eigenvalues = np.linalg.eigvalsh(np.moveaxis(hessian, (0, 1), (-2, -1)))[..., ::-1]
    return gradient, laplacian, eigenvalues.reshape(-1, image.ndim)


@pytest.mark.parametrize("target", ["cpu", "emulated_cuda"])
@pytest.mark.parametrize("shape", [(10, 14, 12), (14, 12)])
def test_voxel_features_derivatives_are_per_mm_on_an_anisotropic_grid(rng, shape, target, request):
    """One rule for units: with a spacing the gradient column was per mm but the Laplacian of Gaussian
    and the Hessian eigenvalues stayed per voxel² (a Laplacian of 2.36 where it is 0.24 per mm² on
    2 x 0.5 x 1 mm voxels). Reference: SciPy's Gaussian derivatives and NumPy's finite-difference
    Hessian, each derivative divided by its spacing (see _reference_derivatives); without a spacing,
    the same with 1 (scipy.ndimage.gaussian_laplace itself)."""
    image = rng.normal(size=shape)
    spacing = (2.0, 0.5, 0.8)[-len(shape) :]
    sigma = tuple(float(s) for s in rng.uniform(0.8, 2.0, len(shape)))
    n = len(shape)
    device = request.getfixturevalue(target) if target != "cpu" else np.asarray
    cases = [
        (gpuimg.to_numpy(voxel_features(device(image), sigmas=[sigma], spacing=spacing)), spacing),
        (gpuimg.to_numpy(voxel_features(device(image), sigmas=[sigma])), (1.0,) * n),
    ]
    if n == 3:  # a Volume brings its spacing
        cases.append((voxel_features(gpuimg.Volume(image, spacing=spacing), sigmas=[sigma]), spacing))
    for got, steps in cases:
        gradient, laplacian, eigenvalues = _reference_derivatives(image, sigma, steps)
        # float32 features against float64 references of values of order 1 to 30 (the per-mm
        # Laplacian on 0.5 mm voxels): float32's rounding through a few passes, well below 1e-4.
        np.testing.assert_allclose(got[:, 2], gradient.ravel(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got[:, 3], laplacian.ravel(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(got[:, 4:], eigenvalues, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(
        voxel_features(image, sigmas=[sigma])[:, 3], ndi.gaussian_laplace(image, sigma).ravel(), atol=1e-5
    )


def test_voxel_features_of_a_quadratic_have_its_curvatures_per_mm():
    """Closed form: f = a z² + b y² + c x² + d z y in mm about the centre has the Hessian
    [[2a, d, 0], [d, 2b, 0], [0, 0, 2c]] per mm² everywhere (the Gaussian adds a constant to a
    quadratic, central differences are exact on it) and the Laplacian 2 (a + b + c)."""
    spacing = np.array([2.0, 0.5, 1.0])
    shape = (21, 25, 23)
    z, y, x = np.meshgrid(
        *((np.arange(n) - n // 2) * s for n, s in zip(shape, spacing, strict=True)), indexing="ij"
    )
    a, b, c, d = 0.3, -0.2, 0.05, 0.15
    image = a * z**2 + b * y**2 + c * x**2 + d * z * y
    features = voxel_features(gpuimg.Volume(image, spacing=tuple(spacing)), sigmas=(1.5,))
    centre = np.ravel_multi_index(tuple(n // 2 for n in shape), shape)
    hessian = np.array([[2 * a, d, 0.0], [d, 2 * b, 0.0], [0.0, 0.0, 2 * c]])
    # float32 differences of a quadratic: exact up to rounding (values of order 1 near the centre).
    np.testing.assert_allclose(features[centre, 4:], np.linalg.eigvalsh(hessian)[::-1], atol=1e-5)
    # SciPy's second derivative of a Gaussian cut at 4 sigma gives a parabola 0.9976 of its curvature
    # and a constant (the smoothed other terms, 2.8 at the centre) its sum times it, about -2e-4: 0.7 %
    # off here in all. Per voxel² the Laplacian would be 2.4, the Hessian's largest eigenvalue 2.4.
    np.testing.assert_allclose(features[centre, 3], 2 * (a + b + c), rtol=1e-2)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sigmas": (0.67,)}, r"sigmas along axis 0 is 0\.67 voxels: .* Use sigmas of at least 0\.75"),
        ({"sigmas": (2.0, (1.5, 0.6, 1.0))}, r"sigmas along axis 1 is 0\.6 voxels"),
        (
            {"sigmas_mm": (1.0,), "spacing": (3.0, 1.0, 1.0)},
            r"sigmas along axis 0 is 0\.333 voxels \(sigmas_mm 1 / spacing 3 mm\): .* Use sigmas_mm of "
            r"at least 0\.75 times the spacing \(2\.25 mm along axis 0\)",
        ),
    ],
)
def test_voxel_features_refuse_the_sigmas_that_edges_log_refuses(rng, options, message):
    """The Laplacian of Gaussian column took a sigma that gpuimg.edges.log refuses (below about 0.73
    voxel, where SciPy's sampled second derivative of a Gaussian is no derivative: a constant -1000 HU
    got a Laplacian of 34 per voxel² at 0.67 voxel, where it is 0, closed form); refused alike now,
    naming sigmas or sigmas_mm."""
    image = rng.normal(size=(8, 9, 10))
    sigma = options.get("sigmas", [None])[-1]
    log_options = {"sigma": sigma} if "sigmas" in options else {"sigma_mm": 1.0, "spacing": (3.0, 1.0, 1.0)}
    with pytest.raises(ParameterError, match="not a derivative"):
        gpuimg.edges.log(image, **log_options)
    with pytest.raises(ParameterError, match=message):
        voxel_features(image, **options)
    # The narrowest sigma log takes along each axis, and voxel_features with it.
    assert voxel_features(image, sigmas=(0.75,)).shape == (image.size, 7)
