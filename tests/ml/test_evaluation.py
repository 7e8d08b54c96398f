import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import GroupShuffleSplit, cross_val_score
from sklearn.utils import check_random_state

from gpuimg.errors import ParameterError
from gpuimg.ml import make_estimator, patient_cv, patient_split


@settings(max_examples=40, deadline=None)
@given(
    n_patients=st.integers(4, 30),
    per_patient=st.integers(1, 5),
    test_size=st.floats(0.1, 0.4),
    val_size=st.one_of(st.none(), st.floats(0.1, 0.4)),
    stratify=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_no_patient_in_two_sets(n_patients, per_patient, test_size, val_size, stratify, seed):
    rng = np.random.default_rng(seed)
    groups = np.repeat(rng.permutation(n_patients) * 7 + 3, per_patient)
    y = np.repeat(np.arange(n_patients) % 2, per_patient)
    X = rng.normal(size=(groups.size, 2))
    parts = patient_split(X, y, groups, test_size, val_size, stratify=stratify, random_state=seed)
    assert len(parts) == (2 if val_size is None else 3)
    seen = [set(groups[p]) for p in parts]
    for i in range(len(seen)):
        for j in range(i + 1, len(seen)):
            assert not seen[i] & seen[j]
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(groups.size))
    assert all(p.size > 0 for p in parts)


@pytest.mark.parametrize("stratify", [False, True])
def test_patient_cv_folds_share_no_patient(rng, stratify):
    groups = np.repeat(np.arange(12), 4)
    y = np.repeat(np.arange(12) % 2, 4)
    X = rng.normal(size=(48, 3)) + y[:, None]
    cv = patient_cv(4, stratify=stratify, random_state=0)
    for train, test in cv.split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
    scores = cross_val_score(make_estimator("logistic_regression"), X, y, groups=groups, cv=cv)
    assert scores.shape == (4,)


def test_bad_splits_raise():
    X = np.zeros((6, 2))
    y = np.array([0, 1] * 3)
    groups = np.array([0, 0, 1, 1, 2, 2])
    with pytest.raises(ParameterError, match="3 patient"):
        next(patient_cv(5).split(X, y, groups))
    with pytest.raises(ParameterError, match="6 samples"):
        patient_split(X, y[:4], groups)
    with pytest.raises(ParameterError, match="fractions"):
        patient_split(X, y, groups, test_size=1.5)
    with pytest.raises(ParameterError, match="one"):
        patient_split(X, np.zeros(6), groups, stratify=True)
    with pytest.raises(ParameterError, match="cannot fill"):
        patient_split(X[:2], y[:2], [0, 0], 0.3, 0.3)
    with pytest.raises(ParameterError, match="n_splits"):
        patient_cv(1)


@settings(max_examples=150, deadline=None)
@given(
    groups=st.lists(st.integers(0, 5), min_size=1, max_size=30),
    classes=st.integers(1, 3),
    test_size=st.sampled_from([0.1, 0.2, 0.34, 0.5, 0.9]),
    val_size=st.sampled_from([None, 0.2, 0.3]),
    stratify=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_few_patients_split_or_say_why(groups, classes, test_size, val_size, stratify, seed):
    # With few patients and uneven classes, either a partition without a shared patient and no empty
    # set, or a ParameterError: never scikit-learn's own ValueError from deep inside.
    groups = np.asarray(groups)
    y = np.random.default_rng(seed).integers(0, classes, groups.size)
    X = np.zeros((groups.size, 2))
    try:
        parts = patient_split(X, y, groups, test_size, val_size, stratify=stratify, random_state=seed)
    except ParameterError:
        return
    seen = [set(groups[p]) for p in parts]
    assert all(not seen[i] & seen[j] for i in range(len(seen)) for j in range(i + 1, len(seen)))
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(groups.size))
    assert all(p.size > 0 for p in parts)


def test_a_stratified_test_set_that_leaves_too_few_patients():
    # Three patients: the stratified test fold (one of 2, the most class 0 allows) took two of them.
    groups = np.array([1, 1, 0, 1, 1, 2, 1, 1, 2, 0, 0, 1])
    y = np.array([0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 1])
    with pytest.raises(ParameterError, match="leaving 1 patient for the training and validation"):
        patient_split(np.zeros((12, 2)), y, groups, 0.1, 0.3, stratify=True, random_state=13)


def test_stratified_splits_refuse_samples_without_a_class():
    # scikit-learn's StratifiedGroupKFold refuses NaN labels ('Input contains NaN'); patient_split took
    # NaN as a class of its own, patient_cv passed scikit-learn's bare ValueError on (a TypeError for
    # None beside text), and patient_split without y said y 'holds one' class.
    from sklearn.model_selection import StratifiedGroupKFold

    groups, X = np.repeat(np.arange(20), 2), np.zeros((40, 2))
    y = np.tile([0.0, 1.0], 20)
    y[[3, 8]] = np.nan
    with pytest.raises(ValueError, match="Input contains NaN"):
        next(StratifiedGroupKFold(2).split(X, y, groups))
    text = np.array(["benign", "malignant"] * 20, dtype=object)
    text[5] = None
    for labels, shown in ((y, "2 samples, first at index 3"), (text, "1 sample, first at index 5")):
        with pytest.raises(ParameterError, match=rf"y has no class label \(NaN, None\) for {shown}"):
            patient_split(X, labels, groups, stratify=True, random_state=0)
        with pytest.raises(ParameterError, match=rf"y has no class label \(NaN, None\) for {shown}"):
            next(patient_cv(2, stratify=True, random_state=0).split(X, labels, groups))
        assert len(patient_split(X, labels, groups, random_state=0)) == 2  # unstratified: y is not read
    with pytest.raises(ParameterError, match="y=None: stratified splits keep the class proportions"):
        patient_split(X, None, groups, stratify=True)


def test_stratified_folds_of_classes_smaller_than_the_folds():
    groups, y = np.arange(6), np.array([0, 1, 2, 0, 1, 2])
    with pytest.raises(ParameterError, match=r"every class has fewer samples \(2 at most\) than the 3"):
        next(patient_cv(3, stratify=True).split(np.zeros((6, 2)), y, groups))
    with pytest.raises(ParameterError, match="y=None"):
        next(patient_cv(3, stratify=True).split(np.zeros((6, 2)), None, groups))
    assert len(list(patient_cv(2, stratify=True, random_state=0).split(np.zeros((6, 2)), y, groups))) == 2


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize(
    "groups",
    [
        np.array([1, 2, np.nan, 1, 2, 3, 3, 4]),
        np.array(["P1", "P2", None, "P1", "P2", "P3", "P3", "P4"], dtype=object),
    ],
    ids=["nan", "none"],
)
def test_missing_patients_refused(groups, stratify):
    # scikit-learn's splitters raised a bare ValueError for NaN, or (stratified) put the samples of
    # unknown patients into one group; None beside strings was a TypeError from np.unique.
    X, y = np.zeros((8, 2)), np.array([0, 1] * 4)
    message = r"groups holds no patient \(NaN or None\) for 1 sample, first at index 2"
    with pytest.raises(ParameterError, match=message):
        patient_split(X, y, groups, stratify=stratify)
    with pytest.raises(ParameterError, match=message):
        list(patient_cv(2, stratify=stratify).split(X, y, groups))


def test_patient_labels_of_mixed_types_refused():
    # Patient IDs read as 17 beside "P18" cannot be sorted: np.unique's TypeError from inside scikit-learn.
    X, y = np.zeros((6, 2)), np.array([0, 1] * 3)
    groups = np.array([17, "P18", 19, "P20", 17, 19], dtype=object)
    with pytest.raises(ParameterError, match=r"groups mixes labels of types \['int', 'str'\].*astype\(str\)"):
        patient_split(X, y, groups)
    with pytest.raises(ParameterError, match="groups mixes labels"):
        list(patient_cv(2).split(X, y, groups))


def test_features_with_missing_values_split_as_scikit_learn(rng):
    # patient_split refused NaN features (FeatureError: impute them first), so they were imputed on all
    # patients before the split: the test patients' values leaked into the training set's medians.
    # Only X's length is used, as in scikit-learn's splitters, which take NaN.
    groups = np.repeat(np.arange(12), 3)
    X = rng.normal(size=(36, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    train, test = patient_split(X, None, groups, test_size=0.25, random_state=0)
    splitter = GroupShuffleSplit(n_splits=1, test_size=3, random_state=0)  # 3 = 0.25 of 12 patients
    reference = next(splitter.split(X, groups=groups))
    np.testing.assert_array_equal(train, reference[0])
    np.testing.assert_array_equal(test, reference[1])


@pytest.mark.parametrize("seed", [np.random.default_rng(0), -1, 2**32, 0.5])
def test_a_seed_scikit_learn_cannot_take_is_refused(rng, seed):
    # A numpy Generator (or a negative seed) reached scikit-learn's splitter, whose bare ValueError
    # ('cannot be used to seed a numpy.random.RandomState instance') came out of split.
    with pytest.raises(ValueError):
        check_random_state(seed)
    groups = np.repeat(np.arange(8), 2)
    y, X = groups % 2, rng.normal(size=(16, 2))
    with pytest.raises(
        ParameterError, match=r"random_state=.* must be None, an integer in \[0, 2\*\*32 - 1\]"
    ):
        patient_split(X, y, groups, random_state=seed)
    with pytest.raises(ParameterError, match=r"random_state=.* must be None"):
        patient_cv(2, stratify=True, random_state=seed)
    # What scikit-learn takes, patient_split takes: the same test patients for a seed and its RandomState.
    by_int = patient_split(X, y, groups, random_state=3)[1]
    np.testing.assert_array_equal(
        patient_split(X, y, groups, random_state=np.random.RandomState(3))[1], by_int
    )


@pytest.mark.parametrize("size", [np.float32(0.25), np.float16(0.25)])
def test_numpy_fractions_split_as_scikit_learn(rng, size):
    # A NumPy float32 fraction (a value read from an array) was refused: 'must be fractions in (0, 1)'.
    groups = np.repeat(np.arange(12), 2)
    X = rng.normal(size=(24, 2))
    test = patient_split(X, None, groups, test_size=size, random_state=0)[1]
    reference = next(GroupShuffleSplit(n_splits=1, test_size=3, random_state=0).split(X, groups=groups))[1]
    np.testing.assert_array_equal(test, reference)
    with pytest.raises(ParameterError, match="fractions"):
        patient_split(X, None, groups, test_size=True)


def test_patient_cv_given_the_data_or_used_without_groups_says_how_it_is_used():
    """patient_cv(X) put X's repr in 'n_splits=array([[...]]) must be an integer'; cross_val_score
    without groups= did not say where they go. As advised, the folds equal GroupKFold's scores."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    rng = np.random.default_rng(0)
    X, y, patients = rng.normal(size=(24, 3)), np.arange(24) % 2, np.arange(24) // 2
    with pytest.raises(
        ParameterError, match=r"got an array of shape \(24, 3\) for n_splits: it makes a splitter"
    ) as info:
        patient_cv(X)
    assert len(str(info.value)) < 250
    with pytest.raises(ParameterError, match=r"groups=None: .*groups=patients beside cv=patient_cv"):
        cross_val_score(LogisticRegression(), X, y, cv=patient_cv(3))
    got = cross_val_score(LogisticRegression(), X, y, groups=patients, cv=patient_cv(3))
    expected = cross_val_score(LogisticRegression(), X, y, groups=patients, cv=GroupKFold(3))
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("flag", ["yes", "no", 1, np.array([True, False])])
def test_stratify_that_is_not_a_bool_is_refused(flag):
    # stratify="no" was read by its truth value: a stratified split (or folds), the opposite of what
    # it says. True or False, as Python's or NumPy's bool, is taken, and stratifies as scikit-learn's
    # StratifiedGroupKFold.
    from sklearn.model_selection import StratifiedGroupKFold

    X, y, groups = np.zeros((24, 2)), np.tile([0, 0, 1], 8), np.repeat(np.arange(12), 2)
    with pytest.raises(ParameterError, match=r"stratify=.* must be True or False"):
        patient_cv(3, stratify=flag)
    with pytest.raises(ParameterError, match=r"stratify=.* must be True or False"):
        patient_split(X, y, groups, stratify=flag)
    ours = patient_cv(3, stratify=np.True_, random_state=0).split(X, y, groups)
    reference = StratifiedGroupKFold(3, shuffle=True, random_state=0).split(X, y, groups)
    for (train, test), (ref_train, ref_test) in zip(ours, reference, strict=True):
        assert np.array_equal(train, ref_train) and np.array_equal(test, ref_test)


@pytest.mark.parametrize("test_size", [0.2, 0.3, 0.4, 0.6, 0.7, 0.9])
def test_a_stratified_split_takes_the_fraction_of_patients_asked_for(test_size):
    # One fold of round(1 / test_size) stratified folds was the test set: half the patients for a
    # test_size of 0.4, 0.6, 0.7 or 0.9 (20 of 40, where 16, 24, 28 or 36 were asked for). Reference:
    # the patients scikit-learn's GroupShuffleSplit puts in its test set (unstratified), within the
    # rounding of a fold's patients; the class proportions of the cohort kept (1 in 4) within one
    # patient of each class.
    groups = np.repeat(np.arange(40), 2)  # two studies a patient
    y = (np.arange(40) % 4 == 0).astype(int)[groups]  # 10 patients of class 1, 30 of class 0
    X = np.zeros((80, 3))
    for seed in range(5):
        _, want = next(GroupShuffleSplit(1, test_size=test_size, random_state=seed).split(X, y, groups))
        train, test = patient_split(X, y, groups, test_size, stratify=True, random_state=seed)
        assert abs(np.unique(groups[test]).size - np.unique(groups[want]).size) <= 2
        for part in (train, test):
            patients = np.unique(groups[part])
            n_rare = np.isin(patients, np.flatnonzero(np.arange(40) % 4 == 0)).sum()
            assert abs(n_rare - patients.size / 4) <= 1


def test_stratified_splits_refuse_a_continuous_target():
    # A regression target has no classes: each value was a class of its own, so patient_cv said
    # 'every class has fewer samples (1 at most) than the 3 stratified folds; use n_splits <= 1', and
    # patient_split returned an unstratified split without a word. scikit-learn refuses it.
    from sklearn.model_selection import StratifiedGroupKFold

    groups, X = np.repeat(np.arange(10), 2), np.zeros((20, 2))
    y = np.random.default_rng(0).normal(size=20)
    with pytest.raises(ValueError, match="continuous"):
        next(StratifiedGroupKFold(3).split(X, y, groups))
    refused = r"y holds continuous values \(20 samples not whole numbers\); .* stratify=False"
    with pytest.raises(ParameterError, match=refused):
        next(patient_cv(3, stratify=True, random_state=0).split(X, y, groups))
    with pytest.raises(ParameterError, match=refused):
        patient_split(X, y, groups, 0.3, stratify=True, random_state=0)
    # The advice taken: its bins are classes (scikit-learn's folds of them), whole-number floats too.
    binned = np.digitize(y, np.quantile(y, [0.5])).astype(np.float64)
    want = list(StratifiedGroupKFold(2, shuffle=True, random_state=0).split(X, binned, groups))
    got = list(patient_cv(2, stratify=True, random_state=0).split(X, binned, groups))
    for (train, test), (want_train, want_test) in zip(got, want, strict=True):
        np.testing.assert_array_equal(train, want_train)
        np.testing.assert_array_equal(test, want_test)
