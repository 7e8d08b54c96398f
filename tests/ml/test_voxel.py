import numpy as np
import pytest
from sklearn.cluster import KMeans

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
    np.testing.assert_allclose(np.sort(peer.cluster_centers_.ravel()), centres, rtol=1e-9)
    np.testing.assert_array_equal(labels, np.argsort(np.argsort(peer.cluster_centers_.ravel()))[peer.labels_])


def test_segment_kmeans_mask_and_float(rng):
    image = np.where(rng.random((10, 10, 10)) < 0.5, -1.0, 1.0) + rng.normal(0, 0.05, (10, 10, 10))
    mask = np.zeros(image.shape, bool)
    mask[:, :5] = True
    labels = segment_kmeans(image, 2, mask=mask)
    assert (labels[~mask] == -1).all()
    np.testing.assert_array_equal(labels[mask], (image[mask] > 0).astype(np.int32))


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
