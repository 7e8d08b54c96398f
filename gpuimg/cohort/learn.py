"""The learning step of a cohort: patient-level cross-validation and final models, on the feature rows
and the labels that :mod:`gpuimg.cohort.labels` reads.

Each task of the spec gets a scikit-learn pipeline (median imputation, standardisation, the estimator by
name from :func:`gpuimg.ml.make_estimator`). Classification and regression are scored on out-of-fold
predictions of a cross-validation whose folds never share a patient; the model saved is then fitted on
every labelled study. Clustering is fitted once and scored by its silhouette.
"""

import decimal
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from gpuimg._text import count, some
from gpuimg.errors import ConfigError, FeatureError, GpuimgError, ParameterError
from gpuimg.ml import make_estimator, metrics, patient_cv

from ._clusters import fit_clusters
from .labels import feature_matrix
from .spec import Learning, Task


def fit_tasks(
    rows: list[dict], learning: Learning, labels: dict[str, dict[str, str]]
) -> tuple[dict, dict, dict]:
    """Cross-validate and fit every task of ``learning`` on the feature rows.

    Returns
    -------
    models : dict
        ``features`` (the column names) and one fitted pipeline per task fitted; empty if none was.
    metrics : dict
        Per task: the scores (accuracy, balanced accuracy, ROC AUC, confusion matrix; R², MAE;
        silhouette), the number of studies and patients used; or, for a task this cohort's data
        cannot fit (one class only, more clusters than studies, no labelled study), ``error``: why.
        Such a task gets no model, and the other tasks still run. A task fitted without a score (a
        class of one patient; fewer than 3 patients for a regression) has ``not_cross_validated``: why.
        A clustering whose silhouette is undefined has it NaN and ``no_silhouette``: why.
    predictions : dict
        Per task, what the report plots: targets, their studies (``study``, in the order of the
        targets) and out-of-fold predictions (scores), or the clusters and a 2D projection.
    """
    if not rows or not learning.tasks:
        return {}, {}, {}
    # Each patient numbered by its place in the labels file (those without labels last), and the rows
    # in that order, then by their features: not in the order of the pseudonyms, whose key is new for
    # each output folder, so that the folds and the clusters depend on the data and the spec's
    # random_state alone.
    rank = {patient: place for place, patient in enumerate(labels)}
    X, names = feature_matrix(rows)
    patients = np.array([rank.get(row["patient"], len(rank)) for row in rows])
    order = np.lexsort([*X.T[::-1], patients])
    rows, X, patients = [rows[i] for i in order], X[order], patients[order]
    models, scores, predictions = {}, {}, {}
    for task in learning.tasks:
        try:
            if not names:
                raise FeatureError(
                    f"no feature has a value in any of the {len(rows)} studies (all NaN: texture of ROIs of "
                    "one voxel, say); check the masks, or add other features.families."
                )
            models[task.kind], scores[task.kind], predictions[task.kind] = _fit_task(
                task, learning, rows, X, patients, labels
            )
        except GpuimgError as exc:  # this cohort's data cannot fit the task: recorded, the others run
            scores[task.kind] = {"error": f"{type(exc).__name__}: {exc}", "n_studies": len(X)}
    return ({"features": names, **models} if models else {}), scores, predictions


def _fit_task(task: Task, learning: Learning, rows, X, patients, labels) -> tuple:
    """One task's fitted pipeline, scores and what the report plots of it."""
    params = _seeded(task, learning.random_state)
    if task.kind != "clustering":
        chosen, y = _targets(rows, labels, task)
        params = _class_weight_by_class(params, y)
    pipeline = make_pipeline(
        SimpleImputer(strategy="median", keep_empty_features=True),
        StandardScaler(),
        make_estimator(task.estimator, task.kind, **params),
    )
    if task.kind != "clustering":
        model, scores, predicted = _supervised(pipeline, X[chosen], y, patients[chosen], task, learning)
        # The targets' studies: the rows were reordered here, and the report draws the features by class.
        predicted["study"] = [rows[i]["study"] for i in chosen]
        return model, scores, predicted
    return fit_clusters(pipeline, X, task.estimator)


def _seeded(task: Task, random_state: int) -> dict:
    """The task's parameters, with the spec's random_state where the estimator takes one."""
    params = dict(task.params)
    if task.estimator == "svm":
        params.setdefault("probability", True)
    if "random_state" not in params:
        try:
            make_estimator(task.estimator, task.kind, **params, random_state=random_state)
            params["random_state"] = random_state
        except ParameterError:
            pass
    return params


def _class_weight_by_class(params: dict, y: np.ndarray) -> dict:
    """``params`` with a ``class_weight`` table's keys as the classes of ``y``: a TOML table's keys
    are text, and classes of whole numbers (0 and 1 in the labels file) are integers, so
    ``class_weight = { 0 = 1, 1 = 3 }`` (keys "0" and "1") named no class and was refused by
    scikit-learn ("The classes, [0, 1], are not in class_weight")."""
    weights = params.get("class_weight")
    if not isinstance(weights, dict) or y.dtype.kind not in "iu":
        return params
    keyed = {}
    for key, weight in weights.items():  # "1" or "1.0", as the labels file writes its classes
        number = _whole(key)
        keyed[key if number is None else number] = weight  # a key of no class: scikit-learn will say
    return {**params, "class_weight": keyed}


def _targets(rows, labels, task: Task) -> tuple[np.ndarray, np.ndarray]:
    chosen, values = [], []
    for i, row in enumerate(rows):
        value = labels.get(row["patient"], {}).get(task.target)
        if value is not None:
            chosen.append(i)
            values.append(value)
    if not chosen:
        raise ConfigError(
            f"learning.{task.kind}.target={task.target!r}: no study has a value in the labels file; check "
            "the column name and that its IDs are the DICOM PatientIDs."
        )
    if task.kind == "regression":
        try:
            return np.array(chosen), np.array(values, dtype=float)
        except ValueError as exc:
            raise ConfigError(
                f"learning.regression.target={task.target!r} holds non-numbers: {exc}."
            ) from exc
    return np.array(chosen), _classes(values)


def _classes(values: list[str]) -> np.ndarray:
    """Class labels from the labels file's cells: integers where every cell is a whole number, written
    either way ("1", or "1.0" as pandas writes a column of integers with a missing value), else the
    texts (words, or whole numbers past int64). Only whole texts were read as integers: "0.0" and
    "1.0" were the classes' names (a class_weight of 0 and 1 named none of them), and a file holding
    both "1" and "1.0" had four classes where pandas reads two."""
    numbers = [_whole(value) for value in values]
    return np.array(values) if None in numbers else np.array(numbers, dtype=np.int64)


def _whole(value) -> int | None:
    """The integer a text writes ("1", "1.0", "1e0"), where it is a whole number within int64; else None."""
    try:
        number = decimal.Decimal(str(value))
    except decimal.InvalidOperation:
        return None
    if number.is_finite() and number == number.to_integral_value() and abs(number) < 2**63:
        return int(number)
    return None


def _supervised(pipeline, X, y, groups, task: Task, learning: Learning):
    n_patients = np.unique(groups).size
    classification = task.kind == "classification"
    folds = min(learning.folds, n_patients)
    if classification:
        # Each fold's training part needs every class: at most as many folds as the patients (not the
        # studies) of the rarest class.
        folds = min(folds, min(np.unique(groups[y == label]).size for label in np.unique(y)))
    elif n_patients < 3:
        # A target is a patient's: with two patients each fold trained on one, predicted its target for
        # every study, and the 'R²' was 1 - n²/(n_a n_b) (-3 for a study each) whatever the features.
        folds = 1
    if classification and n_patients == 1 and len(y) > 1:
        # One class: the classifier's 'y holds one class only' told nothing of the IDs.
        raise ConfigError(f"learning.classification.target={task.target!r} has one class: {_one_id(len(y))}")
    if not classification and n_patients >= 2 and np.unique(y).size == 1:
        # Scored, it was 'r2 is undefined for a constant y_true; use mse or mae', which a spec cannot do.
        raise ConfigError(
            f"learning.regression.target={task.target!r} has one value ({y[0]:g}) in all "
            f"{len(y)} labelled studies: there is nothing to predict. Check the column of the labels file."
        )
    scores = {"n_studies": len(y), "n_patients": int(n_patients), "folds": int(folds)}
    if folds < 2:
        scores["not_cross_validated"] = _why_not_cross_validated(y, groups, classification)
    predicted = {"y": y}
    if folds >= 2:
        cv = patient_cv(folds, stratify=classification, random_state=learning.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            if classification:
                predicted["y_pred"] = cross_val_predict(clone(pipeline), X, y, groups=groups, cv=cv)
                scores.update(_classification_scores(pipeline, X, y, groups, cv, predicted))
            else:
                predicted["y_pred"] = cross_val_predict(clone(pipeline), X, y, groups=groups, cv=cv)
                scores["r2"] = metrics.r2(y, predicted["y_pred"])
                scores["mae"] = metrics.mae(y, predicted["y_pred"])
    return pipeline.fit(X, y), scores, predicted


def _why_not_cross_validated(y, groups, classification: bool) -> str:
    """Why a task's model is fitted on every labelled study without a score: the metrics said only
    ``folds`` 1, and the report nothing."""
    studies = count(len(y), "labelled study", "labelled studies")
    if classification:
        rare = [repr(c) for c in np.unique(y).tolist() if np.unique(groups[y == c]).size < 2]
        several = len(rare) > 1
        reason = (
            f"class{'es' * several} {some(rare)} ha{'ve' if several else 's'} one "
            f"patient{' each' * several}, and each fold of a patient-level cross-validation must train on "
            "every class (2 patients of each class at least)"
        )
    else:
        n = np.unique(groups).size
        reason = (
            f"{count(n, 'patient')} labelled; a patient-level cross-validation of a regression needs 3 at "
            "least (trained on one patient, a model predicts that patient's target for every study)"
        )
    if np.unique(groups).size == 1 and len(y) > 1:
        return f"{reason}. The model is fitted on the {studies}, without a score: {_one_id(len(y))}"
    return f"{reason}. The model is fitted on the {studies}, without a score: label more patients."


def _one_id(n: int) -> str:
    """What to do where all ``n`` labelled studies carry one patient ID (the ID is not shown: it may
    identify the patient): an anonymiser writing one ID ("ANON") for every patient makes a cohort one
    patient, which no patient-level cross-validation can split."""
    return (
        f"all {n} labelled studies carry the same patient ID, so they count as one patient (as when "
        "an anonymiser writes one ID for every patient). Anonymise the studies with an ID per patient "
        "and key the labels file by those IDs; or, where each study is a patient of its own, give each "
        "study its own ID."
    )


def _classification_scores(pipeline, X, y, groups, cv, predicted) -> dict:
    classes = np.unique(y)
    scores = {
        "accuracy": metrics.accuracy(y, predicted["y_pred"]),
        "balanced_accuracy": metrics.balanced_accuracy(y, predicted["y_pred"]),
        "classes": classes.tolist(),
        "confusion_matrix": np.asarray(
            metrics.confusion_matrix(y, predicted["y_pred"], labels=classes)
        ).tolist(),
    }
    # The ROC curve ranks the studies by the second class's probability, or, for a classifier without
    # probabilities (svm with probability = false), by its decision function: it asked for
    # predict_proba, and the run ended in AttributeError after every study was measured.
    method = next((m for m in ("predict_proba", "decision_function") if hasattr(pipeline, m)), None)
    if classes.size == 2 and method is not None:
        predicted["score"] = _out_of_fold_scores(pipeline, X, y, groups, cv, method, classes[1])
        scores["roc_auc"] = metrics.roc_auc(y == classes[1], predicted["score"], pos_label=True)
    return scores


def _out_of_fold_scores(pipeline, X, y, groups, cv, method: str, positive) -> np.ndarray:
    """Each study's score for the class ``positive`` (probability, or the decision function, which
    scores the second class of two) from the fold that left it out.

    Not scikit-learn's ``cross_val_predict(..., method=...)``: it fits on the classes' codes
    (0, 1, ...) in place of the labels, so an estimator given ``class_weight`` by label
    ({"benign" = 1, "malignant" = 3}) was refused ("The classes, [0, 1], are not in class_weight").
    """
    score = np.empty(len(y))
    for train, test in cv.split(X, y, groups):
        model = clone(pipeline).fit(X[train], y[train])
        values = np.asarray(getattr(model, method)(X[test]))
        score[test] = values[:, list(model.classes_).index(positive)] if values.ndim == 2 else values
    return score
