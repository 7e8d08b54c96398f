import warnings

import numpy as np
import pytest
from sklearn.feature_selection import mutual_info_classif
from sklearn.pipeline import make_pipeline

from gpuimg.errors import FeatureError, ParameterError
from gpuimg.ml import PCA, CorrelationFilter, MutualInformationSelector, VarianceThreshold, make_estimator


def _direct_correlation_filter(X, threshold):
    """Column by column: keep unless |r| with an already kept column exceeds the threshold."""
    r = np.abs(np.corrcoef(X, rowvar=False))
    kept = []
    for j in range(X.shape[1]):
        if all(r[i, j] <= threshold for i in kept):
            kept.append(j)
    return kept


def test_correlation_filter_keeps_what_a_direct_computation_says(rng):
    base = rng.normal(size=(300, 4))
    X = np.column_stack(
        [
            base[:, 0],
            base[:, 0] * 2 + 0.01 * rng.normal(size=300),
            base[:, 1],
            base[:, 2],
            -base[:, 1],
            base[:, 3],
        ]
    )
    selector = CorrelationFilter(threshold=0.9).fit(X)
    expected = _direct_correlation_filter(X, 0.9)
    assert expected == [0, 2, 3, 5]
    np.testing.assert_array_equal(selector.get_support(indices=True), expected)
    np.testing.assert_array_equal(selector.transform(X), X[:, expected])
    # Off-diagonal correlations of 1 - 1e-12 and the like: rtol 1e-9 for the two formulas.
    np.testing.assert_allclose(
        selector.correlation_, np.abs(np.corrcoef(X, rowvar=False)), rtol=1e-9, atol=1e-12
    )


def test_correlation_filter_at_threshold_one(rng):
    # Rounding made some exact copies (and affine copies) of a feature correlate above 1 (1 + 4e-16):
    # threshold=1, which drops |r| > 1 only, dropped some of them and kept others. np.corrcoef clips.
    base = rng.normal(size=(40, 3))
    X = np.column_stack([base, base, 3 * base + 7])
    assert _direct_correlation_filter(X, 1.0) == list(range(9))
    selector = CorrelationFilter(threshold=1.0).fit(X)
    np.testing.assert_array_equal(selector.get_support(indices=True), range(9))
    assert selector.correlation_.max() <= 1.0


@pytest.mark.parametrize("threshold", [0.0, 0.05, 0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_variance_threshold_keeps_what_scikit_learn_keeps(rng, threshold, dtype):
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold

    # Columns: constant, narrow (variance below 0.05), medium, and wide (range > 4: variance > range).
    X = np.column_stack(
        [np.full(9, 3.3), rng.normal(0, 0.1, 9), rng.normal(0, 0.5, 9), rng.normal(0, 30.0, 9)]
    ).astype(dtype)
    ours = VarianceThreshold(threshold).fit(X)
    theirs = SklearnVarianceThreshold(threshold).fit(X)
    np.testing.assert_array_equal(ours.support_, theirs.get_support())
    np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))
    # variances_ is the variance (NumPy's of the values in float64, as scikit-learn's: exact);
    # scikit-learn's at threshold 0 is min(variance, range), which for the wide column is the range.
    np.testing.assert_array_equal(ours.variances_, X.astype(np.float64).var(axis=0))
    if threshold > 0:
        # float64 sums in both, in the same order: equal.
        np.testing.assert_array_equal(ours.variances_, theirs.variances_)
    else:
        assert theirs.variances_[3] == np.ptp(X[:, 3].astype(np.float64)) < ours.variances_[3]


def test_variance_threshold_of_float32_features_far_from_zero(rng):
    # A float32 table of features near 1e5 with spreads 0.05 to 0.2: the variances were float32 sums,
    # 6 % off scikit-learn's of the same values (float64), so a threshold between the two kept
    # another set of features.
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold

    X = (rng.normal(size=(200, 3)) * [0.05, 0.1, 0.2] + 1e5).astype(np.float32)
    theirs = SklearnVarianceThreshold().fit(X)
    # float64 sums of the same values in both: 1e-12 for their order
    np.testing.assert_allclose(VarianceThreshold().fit(X).variances_, theirs.variances_, rtol=1e-12)
    between = float(theirs.variances_[0]) * 1.01  # just above the narrow feature's variance
    np.testing.assert_array_equal(
        VarianceThreshold(between).fit(X).get_support(),
        SklearnVarianceThreshold(between).fit(X).get_support(),
    )


def test_variance_threshold_takes_missing_features_as_scikit_learn(rng):
    # A radiomics table holds NaN where a feature is undefined for an ROI; scikit-learn's selector
    # leaves them out of the variance (nanvar) and passes them on to an imputer, so the usual pipeline
    # VarianceThreshold -> SimpleImputer -> model fitted. gpuimg's refused the table (FeatureError).
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold
    from sklearn.impute import SimpleImputer

    # The class is the sign of feature 1, whose values lie 1 or more from 0: a regularised logistic
    # regression (C=1) of 40 samples got 4 or more of those nearest 0 wrong for 16 draws in 1000
    # (score 0.9 or 0.875) when they were drawn N(0, 1) without a gap; with it, none of 1000.
    informative = rng.normal(0, 1.0, 40)
    informative += np.sign(informative)
    X = np.column_stack(
        [
            np.full(40, np.nan),  # undefined for every patient: dropped
            informative,
            np.where(rng.random(40) < 0.3, np.nan, rng.normal(5, 2.0, 40)),  # undefined for some
            np.where(rng.random(40) < 0.3, np.nan, rng.normal(0, 0.1, 40)),  # narrow, some undefined
        ]
    )
    for threshold in (0.0, 0.05):
        ours = VarianceThreshold(threshold).fit(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # its nanvar of the empty column
            theirs = SklearnVarianceThreshold(threshold).fit(X)
        np.testing.assert_array_equal(ours.get_support(), theirs.get_support())
        np.testing.assert_array_equal(ours.variances_, np.nanvar(X, axis=0))  # the same NumPy sums
        np.testing.assert_array_equal(ours.transform(X), theirs.transform(X))  # NaN passed on
    y = (X[:, 1] > 0).astype(int)
    model = make_pipeline(VarianceThreshold(), SimpleImputer(), make_estimator("logistic_regression")).fit(
        X, y
    )
    assert model.score(X, y) > 0.9
    # Constant apart from NaN: variance 0 (closed form), dropped; scikit-learn's guard reads the range of
    # such a column as NaN and keeps it for its rounding-error variance (1.9e-34 here).
    constant = np.r_[np.full(9, 0.1), np.nan]
    table = np.column_stack([constant, np.arange(10.0)])
    np.testing.assert_array_equal(VarianceThreshold().fit(table).get_support(), [False, True])
    with pytest.raises(FeatureError, match=r"X holds infinite values in 1 feature column \(first: \[1\]\)"):
        VarianceThreshold().fit(np.column_stack([constant, np.r_[np.inf, np.arange(9.0)]]))


def test_mutual_information_keeps_the_top_k(rng):
    # Features 2 and 4 carry the class, strongly enough that no noise feature outranks them (with
    # 300 samples and a weight of 0.5 on feature 4, one seed in six put a noise feature second).
    X = rng.normal(size=(600, 6))
    y = (X[:, 2] + 0.8 * X[:, 4] > 0).astype(int)
    selector = MutualInformationSelector(k=2, random_state=0).fit(X, y)
    scores = mutual_info_classif(X, y, random_state=0)
    np.testing.assert_allclose(selector.scores_, scores, rtol=1e-12)
    np.testing.assert_array_equal(selector.get_support(indices=True), np.sort(np.argsort(-scores)[:2]))
    assert set(selector.get_support(indices=True)) == {2, 4}


def test_selection_steps_in_a_pipeline(rng):
    X = np.column_stack([rng.normal(size=(200, 5)), np.ones(200)])
    y = (X[:, 0] > 0).astype(int)
    pipeline = make_pipeline(
        VarianceThreshold(),
        CorrelationFilter(0.95),
        MutualInformationSelector(k=3, random_state=0),
        PCA(n_components=3),  # a rotation of the 3 kept features: 2 may drop the informative one
        make_estimator("logistic_regression"),
    ).fit(X, y)
    assert pipeline.score(X, y) > 0.8
    assert pipeline.named_steps["variancethreshold"].get_support().tolist() == [True] * 5 + [False]


def test_feature_names_of_a_dataframe_kept(rng):
    # The names came out x0, x1, ... for a DataFrame of named radiomics features: scikit-learn keeps them.
    pd = pytest.importorskip("pandas")
    from sklearn.feature_selection import VarianceThreshold as SklearnVarianceThreshold

    base = rng.normal(size=(30, 3))
    table = pd.DataFrame(
        np.column_stack([base[:, 0], np.ones(30), base[:, 1], 2 * base[:, 0], base[:, 2]]),
        columns=["firstorder_Mean", "shape_Constant", "glcm_Contrast", "firstorder_Double", "ngtdm_Busyness"],
    )
    expected = SklearnVarianceThreshold().fit(table).get_feature_names_out()
    np.testing.assert_array_equal(VarianceThreshold().fit(table).get_feature_names_out(), expected)
    varying = table.drop(columns="shape_Constant")  # np.corrcoef of a constant column is NaN
    kept = CorrelationFilter(0.9).fit(varying).get_feature_names_out()
    np.testing.assert_array_equal(kept, varying.columns[_direct_correlation_filter(varying.to_numpy(), 0.9)])
    selector = MutualInformationSelector(k=2, random_state=0).fit(table, base[:, 0] > 0)
    np.testing.assert_array_equal(selector.get_feature_names_out(), table.columns[selector.get_support()])
    transformed = VarianceThreshold().set_output(transform="pandas").fit_transform(table)
    assert list(transformed.columns) == list(expected)
    # Refitted on an array, the names are forgotten, as scikit-learn forgets them.
    assert VarianceThreshold().fit(table).fit(table.to_numpy()).get_feature_names_out()[0] == "x0"
    with pytest.raises(ParameterError, match="input_features holds 2 names"):
        VarianceThreshold().fit(table).get_feature_names_out(["a", "b"])


@pytest.mark.parametrize("scale", [1e200, 1e-200, 1e25])
def test_correlation_filter_at_extreme_scales(rng, scale):
    # Squares of the centred values overflowed (1e200; 1e25 in float32) or underflowed (1e-200): every
    # correlation came out 0, and a feature twice another was kept.
    base = rng.normal(size=(50, 3))
    X = np.column_stack([base[:, 0], 2 * base[:, 0], base[:, 1], base[:, 2]])
    expected = _direct_correlation_filter(X, 0.9)  # at scale 1: the correlations do not depend on it
    scaled = (X * scale).astype(np.float32 if scale == 1e25 else np.float64)
    selector = CorrelationFilter(0.9).fit(scaled)
    np.testing.assert_array_equal(selector.get_support(indices=True), expected)
    # float32 rounding of the scaled values: 1e-5 (float64: 1e-12).
    atol = 1e-5 if scale == 1e25 else 1e-12
    np.testing.assert_allclose(selector.correlation_, np.abs(np.corrcoef(X, rowvar=False)), atol=atol)


def test_correlation_filter_of_float32_features_far_from_zero(rng):
    # A float32 feature table (Parquet) of features near 1e4 with a spread of 0.01: centred in float32,
    # the values lost their digits, and a correlation of 0.951 came out 0.983, so threshold=0.97
    # dropped a feature NumPy's corrcoef of the same float32 values keeps.
    # Three centred, uncorrelated unit columns, so that the second feature correlates with the first
    # at 1/sqrt(1.09) = 0.958 in every draw and the third with neither; rounded to float32 (steps of
    # 2**-10 near 1e4, against a spread of 0.01) these move by less than 0.005. With the noise drawn
    # freely, the sample correlation (sd 0.006 at 200 samples) passed 0.97 for 1 seed in 400.
    centred = rng.normal(size=(200, 3))
    a, noise, other = np.linalg.qr(centred - centred.mean(0))[0].T * np.sqrt(200)
    X = (np.column_stack([a, a + 0.3 * noise, other]) * 0.01 + 1e4).astype(np.float32)
    exact = X.astype(np.float64)  # the same values, as corrcoef computes them
    expected = _direct_correlation_filter(exact, 0.97)
    assert expected == [0, 1, 2]
    selector = CorrelationFilter(threshold=0.97).fit(X)
    np.testing.assert_array_equal(selector.get_support(indices=True), expected)
    # Both in float64 of the same values: 1e-9 for the two formulas' rounding.
    np.testing.assert_allclose(selector.correlation_, np.abs(np.corrcoef(exact, rowvar=False)), atol=1e-9)


def test_selection_parameters_checked(rng):
    # Bare TypeErrors from comparisons with the data before; NumPy scalars were refused.
    X, y = rng.normal(size=(12, 3)), np.arange(12) % 2
    for threshold in (None, "high", -1.0, np.nan):
        with pytest.raises(ParameterError, match="threshold="):
            VarianceThreshold(threshold).fit(X)
    assert CorrelationFilter(np.float32(0.9)).fit(X).n_features_in_ == 3
    for neighbours in (0, 2.5, None):
        with pytest.raises(ParameterError, match=r"n_neighbors=.* must be a positive integer"):
            MutualInformationSelector(k=1, n_neighbors=neighbours).fit(X, y)
    with pytest.raises(ParameterError, match=r"n_neighbors=12 needs more samples.*n_neighbors <= 11"):
        MutualInformationSelector(k=1, n_neighbors=12, discrete_target=False).fit(X, X[:, 0])
    # A numpy Generator was scikit-learn's InvalidParameterError from inside mutual_info_classif.
    with pytest.raises(ParameterError, match=r"random_state=Generator.* must be None, an integer"):
        MutualInformationSelector(k=1, random_state=np.random.default_rng(0)).fit(X, y)


def test_bad_selection_inputs(rng):
    X = rng.normal(size=(20, 3))
    with pytest.raises(ParameterError, match="threshold"):
        CorrelationFilter(threshold=1.5).fit(X)
    with pytest.raises(ParameterError, match="k="):
        MutualInformationSelector(k=0).fit(X, np.arange(20) % 2)
    with pytest.raises(ParameterError, match="one class"):
        MutualInformationSelector(k=1).fit(X, np.zeros(20))
    X[0, 0] = np.inf
    with pytest.raises(FeatureError):
        CorrelationFilter().fit(X)


@pytest.mark.parametrize("bad", [{"k": True}, {"discrete_target": "no"}, {"discrete_target": 0}])
def test_mutual_information_refuses_a_bool_for_k_and_a_non_bool_target_kind(bad, rng):
    # k=True kept 1 feature; discrete_target="no" was read as True (a class target). True or False
    # (NumPy's too) is taken, and scores as scikit-learn's mutual_info_regression.
    from sklearn.feature_selection import mutual_info_regression

    X, y = rng.normal(size=(30, 3)), rng.normal(size=30)
    with pytest.raises(ParameterError, match=r"(k|discrete_target)=.* must be"):
        MutualInformationSelector(**bad).fit(X, np.tile([0, 1], 15))
    ours = MutualInformationSelector(k=2, discrete_target=np.False_, random_state=0).fit(X, y)
    assert np.array_equal(ours.scores_, mutual_info_regression(X, y, random_state=0))


def test_mutual_information_of_constant_and_offset_features():
    # 30 patients, 6 of one class: scikit-learn's nearest neighbours in a class of 7 samples or fewer
    # are brute force (|x|^2 - 2 x.y + |y|^2), which lost the differences of a feature's values far
    # from 0 against their spread. A constant feature (3.7 for everyone: a shape feature of identical
    # masks) scored 0.6 nats and a near-constant one (1000 + 1e-6 noise: a phantom's mean in
    # repeated scans) 0.5 to 0.7, both above the feature that follows the class (about 0.15), and
    # k=1 kept the constant. Closed forms: a constant tells nothing of y (0 nats); the mutual
    # information is unchanged by a shift and a positive scale of a feature, so the near-constant
    # feature scores as its noise alone and the informative one as itself in scikit-learn.
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(24), np.ones(6)]
    informative, noise = y + 0.7 * rng.normal(size=30), rng.normal(size=30)
    X = np.column_stack([np.full(30, 3.7), 1000.0 + 1e-6 * noise, informative])
    selector = MutualInformationSelector(k=1, random_state=0).fit(X, y)
    assert selector.scores_[0] == 0.0
    np.testing.assert_array_equal(selector.get_support(indices=True), [2])
    alone = mutual_info_classif(np.column_stack([np.zeros(30), noise, informative]), y, random_state=0)
    # 0.05 nats: the estimate counts neighbours within the k-th one's distance less one ulp, so its
    # rounding (shifted data round otherwise) moves a sample in or out; the defect was 0.4 or more.
    np.testing.assert_allclose(selector.scores_[1:], alone[1:], rtol=0, atol=0.05)


def test_mutual_information_of_one_sample_per_class_is_refused_naming_y(rng):
    # Five studies, each of its own class: scikit-learn's estimate leaves out every sample (none has a
    # neighbour within its class) and ends in its ValueError 'Found array with 0 sample(s)', which
    # came through as it was. A class of one among larger classes is left out, as scikit-learn does.
    X, y = rng.normal(size=(5, 4)), np.array(["a", "b", "c", "d", "e"])
    with pytest.raises(ValueError, match="0 sample"):
        mutual_info_classif(X, y, random_state=0)
    with pytest.raises(ParameterError, match="y gives each of the 5 samples a class of its own"):
        MutualInformationSelector(k=2, random_state=0).fit(X, y)
    y = np.array(["a", "a", "b", "b", "e"])
    selector = MutualInformationSelector(k=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(selector.scores_, mutual_info_classif(X - X.mean(0), y, random_state=0))
