"""Splits by patient: train / validation / test sets and cross-validation with no patient in two sets."""

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedGroupKFold

from gpuimg._support import check_flag
from gpuimg._text import count
from gpuimg.backend import to_numpy
from gpuimg.errors import ParameterError

from ._validation import check_comparable, check_features, check_seed, missing_labels


def patient_split(
    X,
    y,
    groups,
    test_size: float = 0.2,
    val_size: float | None = None,
    *,
    stratify: bool = False,
    random_state: int | None = None,
) -> tuple:
    """Indices of a train / (validation /) test split in which no patient is in two sets.

    Parameters
    ----------
    X : array (samples, features)
        Only its length is used; it may hold NaN, to be imputed on the training set after the split
        (imputing before it would carry the test patients' values into the training set).
    y : array (samples,)
        Targets; with ``stratify``, class labels whose proportions each set keeps (as near as whole
        patients allow).
    groups : array (samples,)
        Patient of each sample (any hashable labels).
    test_size, val_size : float in (0, 1), optional
        Fractions of the patients in the test and validation sets (no validation set by default).
    stratify : bool
    random_state : int or numpy.random.RandomState, optional

    Returns
    -------
    (train, test) or (train, val, test) : arrays of int
        Sample indices, NumPy arrays whichever device X lives on: they index NumPy and CuPy arrays
        alike, so X, y and groups can each be on either device.

    Raises
    ------
    ParameterError
        Lengths of X, y and groups differ; a sample without its patient (NaN or None in ``groups``);
        labels of types that cannot be compared (17 beside "P18"); sizes outside (0, 1) or summing to 1
        or more; too few patients for the sets asked for; a ``stratify`` that is not True or False;
        stratify without y, with a sample without its class (NaN or None in ``y``), with continuous
        values (a regression target) or with a single class.

    Notes
    -----
    ``y`` and ``groups`` (two vectors) are read on the host; the indices go back to X's device.
    Stratified splits take ``m`` of the ``k`` folds of scikit-learn's ``StratifiedGroupKFold``, ``m / k``
    nearest the size asked for with ``k`` from 2 to 10 and at most the patients of the rarest class
    (one of ``round(1 / size)`` folds for sizes such as 0.2 and 0.25; unstratified where one class
    has a single patient), others ``GroupShuffleSplit``.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import patient_split
    >>> patients = np.repeat(["P1", "P2", "P3", "P4", "P5", "P6"], 2)  # two lesions each
    >>> X, y = np.zeros((12, 3)), np.tile([0, 1], 6)
    >>> train, test = patient_split(X, y, patients, test_size=0.34, random_state=0)
    >>> len(train), len(test)  # 4 patients and 2
    (8, 4)
    >>> set(patients[train]) & set(patients[test])  # no patient in both
    set()
    """
    X = check_features(X, finite=False)  # only its length is used: missing values are imputed later
    stratify = check_flag(stratify, "stratify")
    check_seed(random_state)
    y_host, groups_host = _labels(X, y, groups, stratify=stratify)
    sizes = [s for s in (test_size, val_size) if s is not None]
    if not all(_fraction(s) for s in sizes) or sum(float(s) for s in sizes) >= 1:
        raise ParameterError(
            f"test_size={test_size!r} and val_size={val_size!r} must be fractions in (0, 1) "
            "summing to less than 1."
        )
    n_patients = np.unique(groups_host).size
    if n_patients < len(sizes) + 1:
        raise ParameterError(
            f"{count(n_patients, 'patient')} cannot fill {len(sizes) + 1} sets; every set needs its own "
            "patients."
        )
    if stratify and np.unique(y_host).size < 2:
        raise ParameterError("stratify=True needs at least two classes in y; it holds one.")
    rest = np.arange(X.shape[0])
    test = _take(rest, y_host, groups_host, test_size, stratify, random_state)
    rest = np.setdiff1d(rest, test)
    parts = [test]
    if val_size is not None:
        left = np.unique(groups_host[rest]).size
        if left < 2:  # a stratified fold can hold more patients than test_size asks, with few patients
            raise ParameterError(
                f"the test set took {n_patients - left} of the {n_patients} patients (whole patients, "
                f"balanced by class), leaving {count(left, 'patient')} for the training and validation "
                "sets; give more patients, leave out val_size, or use stratify=False."
            )
        val = _take(rest, y_host, groups_host, val_size / (1 - test_size), stratify, random_state)
        rest = np.setdiff1d(rest, val)
        parts.insert(0, val)
    return tuple(np.sort(part) for part in [rest, *parts])


def _fraction(size) -> bool:
    """Whether ``size`` is a fraction in (0, 1): a Python or NumPy float (np.float32(0.2) too)."""
    return isinstance(size, (float, np.floating)) and 0 < size < 1


def patient_cv(n_splits: int = 5, *, stratify: bool = False, random_state: int | None = None):
    """A scikit-learn cross-validation splitter whose folds never share a patient.

    Pass it as ``cv=`` with ``groups=`` to ``cross_val_score``, ``GridSearchCV.fit`` etc.

    Parameters
    ----------
    n_splits : int
        Folds, at least 2.
    stratify : bool
        Keep the class proportions in each fold (``StratifiedGroupKFold``, shuffled with
        ``random_state``); otherwise ``GroupKFold``.
    random_state : int, optional
        Seeds the shuffle of the stratified folds. The unstratified folds do not depend on it:
        ``GroupKFold`` deals the patients out by their number of samples, largest first, each to
        the fold with fewest samples so far, the same folds for every seed.

    Returns
    -------
    GroupKFold or StratifiedGroupKFold
        Whose ``split`` raises ParameterError when there are fewer patients than folds, the
        lengths of X, y and groups differ, ``groups`` holds NaN or None, or (stratified) y is
        None, holds NaN or None, or holds continuous values.

    Raises
    ------
    ParameterError
        For an ``n_splits`` that is not an integer of at least 2 (an array: data given in its place), a
        ``stratify`` that is not True or False, or a ``random_state`` that is not None, an integer in
        [0, 2**32 - 1] or a RandomState.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import cross_val_score
    >>> from gpuimg.ml import patient_cv
    >>> y = np.repeat([0, 1], 6)
    >>> X = y[:, None] + np.linspace(0.0, 0.1, 12)[:, None]  # separable by class
    >>> patients = np.arange(12) // 2  # two samples each, of one class
    >>> for _, test in patient_cv(3).split(X, y, patients):
    ...     print(np.unique(patients[test]))  # whole patients in each fold
    [2 5]
    [1 4]
    [0 3]
    >>> cv = patient_cv(3, stratify=True, random_state=0)
    >>> cross_val_score(LogisticRegression(), X, y, groups=patients, cv=cv)
    array([1., 1., 1.])
    """
    if hasattr(n_splits, "shape") and np.ndim(n_splits) > 0:  # patient_cv(X, y, groups): data, not folds
        raise ParameterError(
            f"patient_cv got an array of shape {tuple(n_splits.shape)} for n_splits: it makes a splitter, "
            "to pass as cv=, with the patients as groups=: cross_val_score(model, X, y, "
            "groups=patients, cv=patient_cv(5))."
        )
    if not isinstance(n_splits, (int, np.integer)) or n_splits < 2:
        raise ParameterError(f"n_splits={n_splits!r} must be an integer of at least 2.")
    check_seed(random_state)
    if check_flag(stratify, "stratify"):
        return _PatientStratifiedKFold(n_splits, shuffle=True, random_state=random_state)
    return _PatientKFold(n_splits)


def _labels(X, y, groups, *, stratify: bool = False):
    """``y`` and ``groups`` on the host, checked: one per sample, a patient for every sample, and with
    ``stratify`` a class for every sample."""
    y_host = None if y is None else to_numpy(y).ravel()
    groups_host = to_numpy(groups).ravel() if groups is not None else None
    if groups_host is None:
        raise ParameterError(
            "groups=None: give the patient of each sample, so no patient is in two sets (with "
            "cross_val_score or GridSearchCV.fit: groups=patients beside cv=patient_cv(...))."
        )
    n = X.shape[0]
    for name, values in (("y", y_host), ("groups", groups_host)):
        if values is not None and values.shape[0] != n:
            raise ParameterError(f"X has {n} samples but {name} has {values.shape[0]}; give one per sample.")
        if values is not None and values.dtype.kind == "O":
            check_comparable(values, name)
    missing = np.flatnonzero(missing_labels(groups_host))
    if missing.size:
        raise ParameterError(
            f"groups holds no patient (NaN or None) for {count(missing.size, 'sample')}, first at index "
            f"{missing[0]}; every sample needs its patient: fill them in or drop those samples."
        )
    if stratify:
        if y_host is None:
            raise ParameterError("y=None: stratified splits keep the class proportions of y; give y.")
        # A NaN label was a class of its own in patient_split, and scikit-learn's bare ValueError
        # ('Input contains NaN'; a TypeError for None beside text) in patient_cv.
        unlabelled = np.flatnonzero(missing_labels(y_host))
        if unlabelled.size:
            raise ParameterError(
                f"y has no class label (NaN, None) for {count(unlabelled.size, 'sample')}, first at index "
                f"{unlabelled[0]}; stratified splits keep the class proportions of y: drop those samples "
                "or give each a class (or use stratify=False)."
            )
        # A regression target is no class: each value was a class of its own, so patient_cv asked for
        # 'n_splits <= 1' and patient_split fell back to an unstratified split without a word.
        # scikit-learn's StratifiedGroupKFold refuses it ('Got 'continuous' instead').
        fractional = int(np.count_nonzero(y_host != np.floor(y_host))) if y_host.dtype.kind == "f" else 0
        if fractional:
            raise ParameterError(
                f"y holds continuous values ({count(fractional, 'sample')} not whole numbers); stratified "
                "splits keep the proportions of classes: use stratify=False for a regression target, or "
                "stratify by its bins (e.g. numpy.digitize(y, numpy.quantile(y, [0.25, 0.5, 0.75])))."
            )
    return y_host, groups_host


def _take(indices, y, groups, fraction, stratify, random_state):
    """A fraction of the patients among ``indices``: the sample indices of theirs."""
    if stratify:
        sub_y, sub_groups = y[indices], groups[indices]
        patients_per_class = min(np.unique(sub_groups[sub_y == c]).size for c in np.unique(sub_y))
        # m of k folds, m / k nearest the fraction (the smallest k of the nearest): one fold of
        # round(1 / fraction) took half the patients for a test_size of 0.4, 0.6 or 0.9.
        shares = [(abs(min(max(round(fraction * k), 1), k - 1) / k - fraction), k) for k in range(2, 11)]
        folds = min((share for share in shares if share[1] <= patients_per_class), default=(0, 1))[1]
    if stratify and folds >= 2:
        taken = min(max(round(fraction * folds), 1), folds - 1)
        splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=random_state)
        parts = splitter.split(indices, sub_y, sub_groups)
        chosen = np.concatenate([test for _, (_, test) in zip(range(taken), parts, strict=False)])
    else:
        n_groups = np.unique(groups[indices]).size
        taken = min(max(round(fraction * n_groups), 1), n_groups - 1)  # never empty, never all
        splitter = GroupShuffleSplit(n_splits=1, test_size=taken, random_state=random_state)
        _, chosen = next(splitter.split(indices, groups=groups[indices]))
    return indices[chosen]


class _PatientSplits:
    """Checks before splitting: lengths, and at least as many patients as folds."""

    def split(self, X, y=None, groups=None):
        X = np.empty((len(X), 0)) if not hasattr(X, "shape") else X
        stratified = isinstance(self, StratifiedGroupKFold)
        y_host, groups_host = _labels(X, y, groups, stratify=stratified)
        n_patients = np.unique(groups_host).size
        if n_patients < self.n_splits:
            raise ParameterError(
                f"{count(n_patients, 'patient')} cannot make {self.n_splits} folds; use n_splits <= "
                f"{n_patients}."
            )
        if stratified:
            _, members = np.unique(y_host, return_counts=True)
            if members.max() < self.n_splits:  # scikit-learn's own refusal: every class too small
                raise ParameterError(
                    f"every class has fewer samples ({members.max()} at most) than the {self.n_splits} "
                    f"stratified folds; use n_splits <= {members.max()} or stratify=False."
                )
        return super().split(np.empty((X.shape[0], 0)), y_host, groups_host)


class _PatientKFold(_PatientSplits, GroupKFold):
    __doc__ = GroupKFold.__doc__


class _PatientStratifiedKFold(_PatientSplits, StratifiedGroupKFold):
    __doc__ = StratifiedGroupKFold.__doc__
