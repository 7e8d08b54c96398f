import numpy as np
import pytest
from minisom import MiniSom
from scipy.spatial.distance import cdist
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from gpuimg.errors import ParameterError
from gpuimg.ml import SOM


def test_quality_against_minisom():
    # Separated 2D blobs, same grid and epochs for both maps. Per data set our quantization error
    # ranges about 0.94x to 1.03x MiniSom's; averaged over ten sets it is lower, while our
    # topographic error stays below 0.1 on each (MiniSom's: up to about 0.25).
    ours, theirs = [], []
    for seed in range(10):
        X, _ = make_blobs(n_samples=600, centers=4, n_features=2, cluster_std=0.7, random_state=seed)
        som = SOM(grid=(6, 6), epochs=20).fit(X)
        peer = MiniSom(6, 6, 2, random_seed=seed)
        peer.train(X, 20, use_epochs=True)
        ours.append(som.quantization_error(X))
        theirs.append(peer.quantization_error(X))
        assert som.topographic_error(X) < 0.1
    assert np.mean(ours) <= np.mean(theirs)


@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
def test_api(rng, topology):
    X = rng.normal(size=(200, 3))
    som = SOM(grid=(4, 3), topology=topology, epochs=10, init="random", random_state=0).fit(X)
    assert som.weights_.shape == (12, 3)
    distances = som.transform(X)
    assert distances.shape == (200, 12)
    np.testing.assert_array_equal(som.predict(X), distances.argmin(1))
    np.testing.assert_array_equal(som.labels_, som.predict(X))
    # Mean nearest-node distance, two ways (1e-12: sqrt of the same squared distances).
    assert som.quantization_error(X) == pytest.approx(distances.min(1).mean(), rel=1e-9)
    again = clone(som).fit(X)
    np.testing.assert_allclose(again.weights_, som.weights_, rtol=1e-12)


@pytest.mark.parametrize(("offset", "dtype"), [(1e4, np.float32), (1e8, np.float64)])
def test_best_matches_of_features_far_from_zero(rng, offset, dtype):
    # The distances' expansion |x|^2 - 2 x.w + |w|^2 cancelled to noise for float32 features near 1e4
    # (float64 near 1e8): 40% of the samples got a node other than their nearest.
    X = (rng.normal(size=(200, 3)) + offset).astype(dtype)
    som = SOM(grid=(3, 3), epochs=10, random_state=0).fit(X)
    exact = cdist(X.astype(np.float64), som.weights_)
    np.testing.assert_array_equal(som.labels_, exact.argmin(1))
    np.testing.assert_array_equal(som.predict(X), exact.argmin(1))
    # Distances of about 1 between values near the offset: float64 rounding of x - w, about 1e-8 at 1e8.
    np.testing.assert_allclose(som.transform(X), exact, rtol=0, atol=1e-7)


def test_bad_parameters(rng):
    X = rng.normal(size=(20, 2))
    for params in ({"grid": (0, 3)}, {"topology": "ring"}, {"epochs": 0}, {"sigma": -1.0}, {"init": "grid"}):
        with pytest.raises(ParameterError):
            SOM(**params).fit(X)
    with pytest.raises(ParameterError, match="sample_weight"):
        SOM().fit(X, sample_weight=np.ones(3))


def test_a_map_of_one_node(rng):
    # A 1 x 1 map is the (weighted) mean of the samples: its only node, every sample's best match.
    X = rng.normal(size=(50, 3))
    som = SOM(grid=(1, 1), epochs=3).fit(X)
    np.testing.assert_allclose(som.weights_, X.mean(0, keepdims=True), rtol=0, atol=1e-12)
    assert som.quantization_error(X) == pytest.approx(np.linalg.norm(X - X.mean(0), axis=1).mean(), rel=1e-12)
    # Its topographic error, which compares the best and second-best nodes, was NumPy's IndexError;
    # MiniSom leaves it undefined (NaN) too.
    peer = MiniSom(1, 1, 3, random_seed=0)
    with pytest.warns(UserWarning):
        assert np.isnan(peer.topographic_error(X))
    with pytest.raises(ParameterError, match=r"grid=\(1, 1\) has one node"):
        som.topographic_error(X)


def test_infinite_sample_weights_refused(rng):
    # An infinite weight passed the check (non-negative, sum above zero) and the PCA start ended in
    # NumPy's LinAlgError ('Eigenvalues did not converge').
    X = rng.normal(size=(20, 2))
    with pytest.raises(ParameterError, match="sample_weight holds NaN or infinite values for 1 sample"):
        SOM(grid=(2, 2)).fit(X, sample_weight=np.r_[np.inf, np.ones(19)])


def test_rates_and_widths_checked(rng):
    # A learning rate above 1 overshoots each batch target (3: nodes near 7e4 for data within 3), an
    # infinite sigma made every node NaN, and NumPy floats were refused as 'not a positive number'.
    X = rng.normal(size=(100, 2))
    for params in ({"learning_rate": 1.5}, {"learning_rate": 3.0}, {"sigma": np.inf}, {"sigma_final": True}):
        with pytest.raises(ParameterError, match=r"must be a finite positive number"):
            SOM(grid=(3, 3), **params).fit(X)
    same = SOM(grid=(3, 3), sigma=np.float32(2.0), learning_rate=np.float64(0.5), epochs=5).fit(X)
    plain = SOM(grid=(3, 3), sigma=2.0, learning_rate=0.5, epochs=5).fit(X)
    np.testing.assert_array_equal(same.weights_, plain.weights_)


def test_pandas_output_names_the_nodes_as_scikit_learn_names_kmeans_centres():
    # The SOM had no get_feature_names_out, so set_output(transform="pandas") on it, or on a pipeline
    # holding it, raised 'Unable to configure output for SOM(...) because `set_output` is not
    # available'. Its transform is the distance to each node, as KMeans' is to each centre, and the
    # columns are named as KMeans names them (kmeans0, ... -> som0, ...).
    import pandas as pd
    from sklearn.cluster import KMeans
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 3)), columns=["a", "b", "c"])
    ours = make_pipeline(StandardScaler(), SOM(grid=(2, 2), random_state=0)).set_output(transform="pandas")
    kmeans = make_pipeline(StandardScaler(), KMeans(4, n_init=1, random_state=0)).set_output(
        transform="pandas"
    )
    out = ours.fit(table).transform(table)
    expected_names = [name.replace("kmeans", "som") for name in kmeans.fit_transform(table).columns]
    assert isinstance(out, pd.DataFrame) and list(out.columns) == expected_names
    # The Euclidean distances from each (standardised) sample to each node, computed directly.
    scaled, nodes = ours[0].transform(table).to_numpy(), ours[-1].weights_
    direct = np.sqrt(((scaled[:, None, :] - nodes[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(out.to_numpy(), direct, rtol=1e-9, atol=1e-12)  # the expansion's rounding


def _batch_target(X, bmu, positions, sigma):
    """Kohonen's batch-map target of every node, written from the definition in exact decimal
    arithmetic: sum_i h(k, bmu_i) x_i / sum_i h(k, bmu_i), h the Gaussian of the grid distance. Its
    exponent range has no underflow: e**-900 is a number, not 0."""
    from decimal import Decimal, localcontext

    with localcontext() as context:
        context.prec = 40
        two_sigma2 = 2 * Decimal(float(sigma)) ** 2
        nodes = []
        for k in range(len(positions)):
            squared = [Decimal(float(((positions[k] - positions[j]) ** 2).sum())) for j in bmu]
            h = [(-d2 / two_sigma2).exp() for d2 in squared]
            sums = [sum(hi * Decimal(float(x)) for hi, x in zip(h, column, strict=True)) for column in X.T]
            nodes.append([float(total / sum(h)) for total in sums])
    return np.array(nodes)


@pytest.mark.parametrize("topology", ["rectangular", "hexagonal"])
def test_nodes_far_from_every_best_match_take_the_batch_mean(topology):
    # Three lesion phenotypes repeated (30 identical rows each) on a 20 x 20 map: at sigma_final 0.3
    # the Gaussian weight of a node 12 or more nodes from every best match underflowed to 0, so its
    # batch target was 0 / 0, read as 0: 234 of the 400 nodes sat at the origin of feature space,
    # where no sample lies (and predict sent a sample there to them). Each node of the batch map
    # (learning rate 1) is a weighted mean of the samples, so within their range; once the best
    # matches stop changing, the map is the fixed point of the rule at sigma_final.
    X = np.repeat(np.array([[100.0, 100.0], [300.0, 300.0], [200.0, 500.0]]), 30, axis=0)
    som = SOM(grid=(20, 20), topology=topology, epochs=20).fit(X)
    assert (som.weights_ >= X.min(0)).all() and (som.weights_ <= X.max(0)).all()
    points = np.unique(X, axis=0)
    bmu = som.predict(points)  # the rows repeat: the same target from one row of each
    expected = _batch_target(points, bmu, som.positions_, som.sigma_final)
    # 1e-9 of values near 300: float64 rounding of the weighted means against the exact ones.
    np.testing.assert_allclose(som.weights_, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("seed", [-1, 1.5, "a", [0.5]])
def test_a_seed_numpy_cannot_take_is_refused_naming_random_state(rng, seed):
    # With init="random" a bad seed was NumPy's bare ValueError ('expected non-negative integer') or
    # TypeError ('SeedSequence expects int or sequence of ints'), naming no parameter; with the
    # default init="pca" it was kept without a word. scikit-learn refuses it with either init (KMeans).
    from sklearn.cluster import KMeans

    X = rng.normal(size=(20, 2))
    with pytest.raises(ValueError, match="random_state"):
        KMeans(2, random_state=seed).fit(X)
    for init in ("pca", "random"):
        with pytest.raises(ParameterError, match=r"random_state=.* must be None, an integer of at least 0"):
            SOM(grid=(2, 2), init=init, random_state=seed).fit(X)


def test_seeds_numpy_takes_draw_the_same_start(rng):
    # An integer, and a Generator or RandomState seeded with it, are taken (NumPy's default_rng takes
    # them); the integer and a fresh Generator of it draw the same samples as the start.
    X = rng.normal(size=(30, 2))
    plain = SOM(grid=(2, 2), init="random", epochs=1, random_state=7).fit(X)
    again = SOM(grid=(2, 2), init="random", epochs=1, random_state=np.random.default_rng(7)).fit(X)
    np.testing.assert_array_equal(again.weights_, plain.weights_)
    SOM(grid=(2, 2), init="random", epochs=1, random_state=np.random.RandomState(7)).fit(X)


def test_a_number_for_sample_weight_weighs_every_sample_alike_as_in_kmeans(rng):
    # SOM().fit(X, sample_weight=2.0) was refused ("got shape ()"), where scikit-learn's KMeans and
    # make_estimator("som", "clustering") take a number; text weights were a bare ValueError.
    X = rng.normal(size=(40, 3))
    # A 1 x 1 map is the weighted mean of the samples, KMeans(1)'s centre (float64 sums: 1e-12).
    reference = KMeans(1, n_init=1).fit(X, sample_weight=2.0).cluster_centers_
    som = SOM(grid=(1, 1), epochs=2).fit(X, sample_weight=2.0)
    np.testing.assert_allclose(som.weights_, reference, rtol=0, atol=1e-12)
    # The same weight for all changes nothing, for KMeans' centres as for the map's nodes (a factor of
    # 2 in every weighted sum and its divisor: exact up to rounding, 1e-12).
    kmeans = KMeans(3, n_init=1, random_state=0)
    np.testing.assert_allclose(
        clone(kmeans).fit(X, sample_weight=2.0).cluster_centers_,
        clone(kmeans).fit(X).cluster_centers_,
        atol=1e-12,
    )
    weighted = SOM(grid=(3, 2), epochs=5).fit(X, sample_weight=2.0)
    np.testing.assert_allclose(
        weighted.weights_, SOM(grid=(3, 2), epochs=5).fit(X).weights_, rtol=0, atol=1e-12
    )
    with pytest.raises(ParameterError, match="sample_weight must hold numbers, one weight per sample"):
        SOM(grid=(2, 2)).fit(X, sample_weight=["a"] * 40)
    with pytest.raises(ParameterError, match=r"sample_weight has shape \(3,\), but X has 40 samples"):
        SOM(grid=(2, 2)).fit(X, sample_weight=np.ones(3))


def test_negative_weights_and_a_sum_beyond_float64_refused(rng):
    # Weights of 1e308 each passed (finite, sum above zero), but their sum is infinite, and the nodes,
    # weighted means, came out NaN.
    X = rng.normal(size=(20, 2))
    with pytest.raises(ParameterError, match="got 0 negative weights and the sum inf"):
        SOM(grid=(2, 2)).fit(X, sample_weight=np.full(20, 1e308))
    with pytest.raises(ParameterError, match="got 1 negative weight and the sum 18"):
        SOM(grid=(2, 2)).fit(X, sample_weight=np.r_[-1.0, np.ones(19)])
    with pytest.raises(ParameterError, match="their sum above zero"):
        SOM(grid=(2, 2)).fit(X, sample_weight=0.0)


def test_widths_whose_square_underflows_or_overflows_are_refused_and_the_bounds_still_fit():
    # sigma=sigma_final=1e-300 made every node NaN (2 sigma**2 underflowed: 0 / 0) and sigma=1e300 a bare
    # OverflowError (sigma**2); both are refused before the work, naming the parameter.
    X, _ = make_blobs(n_samples=300, centers=4, n_features=2, cluster_std=0.5, random_state=3)
    for params, name in (
        ({"sigma": 1e-300, "sigma_final": 1e-300}, "sigma_final"),
        ({"sigma": 1e300}, "sigma"),
    ):
        with pytest.raises(
            ParameterError, match=rf"{name}=1e[-+]300 \[nodes\] is outside 1e-150 to 1e\+150: .*Pass"
        ):
            SOM(grid=(2, 2), **params).fit(X)
    # At the bounds the map is finite, and at the least width it is batch k-means (Lloyd's rule): each
    # node holding samples is their mean, as the plain NumPy means of its samples say.
    som = SOM(grid=(2, 2), sigma=1e150, sigma_final=1e-150, epochs=40).fit(X)
    assert np.isfinite(som.weights_).all()
    for node in np.unique(som.labels_):
        # 1e-12: the batch mean is a weighted sum in another order than NumPy's mean.
        np.testing.assert_allclose(som.weights_[node], X[som.labels_ == node].mean(0), rtol=1e-12, atol=1e-12)


def test_values_whose_squares_overflow_are_refused_and_large_ones_scale(rng):
    # SOM().fit(X * 1e300) gave a bare LinAlgError (the PCA init's covariance was inf), and predict of
    # such X an arbitrary node (every squared distance inf).
    X = rng.normal(size=(200, 3))
    X /= np.abs(X).max()
    with pytest.raises(ParameterError, match=r"X holds values up to 1e\+300 in magnitude; .*Rescale X"):
        SOM(grid=(3, 3)).fit(X * 1e300)
    som = SOM(grid=(3, 3), epochs=10).fit(X)
    with pytest.raises(ParameterError, match=r"X holds values up to 1e\+300"):
        som.predict(X * 1e300)
    # Values up to the bound fit, and the map scales with the data (batch means and PCA init are
    # linear in X): closed form, to rounding.
    large = SOM(grid=(3, 3), epochs=10).fit(X * 1e150)
    np.testing.assert_allclose(large.weights_ / 1e150, som.weights_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(large.labels_, som.labels_)
