"""Checks of feature tables and targets shared by the estimators, splits and selectors."""

import collections
import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import DataConversionWarning

from gpuimg._support import caller_level
from gpuimg._text import count
from gpuimg.backend import namespace, on_device
from gpuimg.errors import FeatureError, NotFittedError, ParameterError


def check_fitted(estimator, attribute: str, fit: str = "fit(X, y)") -> None:
    """Raise :class:`~gpuimg.errors.NotFittedError` unless ``estimator`` has its learned ``attribute``."""
    if not hasattr(estimator, attribute):
        name = type(estimator).__name__
        raise NotFittedError(
            f"This {name} is not fitted yet: call {fit} before using it (scikit-learn's contract)."
        )


class CheckedParams:
    """Mixin of a scikit-learn estimator whose ``set_params`` refuses an unknown parameter with a
    :class:`~gpuimg.errors.ParameterError` (a ValueError, as scikit-learn's own refusal), before any
    is set, as :meth:`gpuimg.ml.DeviceEstimator.set_params` does."""

    def set_params(self, **params):
        """Set parameters; returns self.

        Raises
        ------
        ParameterError
            A parameter the estimator does not take (nothing is set then). Values are checked by ``fit``.
        """
        accepted = set(BaseEstimator.get_params(self, deep=False))
        unknown = sorted(set(params) - accepted)
        if unknown:
            raise ParameterError(
                f"Invalid parameter {unknown} for {type(self).__name__}; its parameters are "
                f"{sorted(accepted)}."
            )
        return BaseEstimator.set_params(self, **params)


def prefixed_names(estimator, prefix: str, n_out: int, input_features) -> np.ndarray:
    """``prefix0``, ``prefix1``, ... ``n_out`` output names of a fitted ``estimator``, as scikit-learn
    names the outputs of a PCA (``pca0``) or a KMeans (``kmeans0``); ``input_features``, if given, is
    checked as :func:`input_names` checks it.

    Raises
    ------
    ParameterError
        As :func:`input_names`.
    """
    input_names(estimator, input_features)
    return np.array([f"{prefix}{i}" for i in range(n_out)], dtype=object)


def input_names(estimator, input_features) -> np.ndarray:
    """The names of the features a fitted ``estimator`` takes: ``input_features`` if given, else the
    column names of the DataFrame it was fitted on (``feature_names_in_``), else ``x0``, ``x1``, ...

    Raises
    ------
    ParameterError
        If ``input_features`` holds another number of names than the features fitted on, or (fitted on
        a DataFrame) other names than its columns, as scikit-learn refuses them.
    """
    fitted = getattr(estimator, "feature_names_in_", None)
    if input_features is None:
        n = estimator.n_features_in_
        return fitted if fitted is not None else np.array([f"x{i}" for i in range(n)], dtype=object)
    names = np.asarray(input_features, dtype=object).ravel()
    if names.size != estimator.n_features_in_:
        raise ParameterError(
            f"input_features holds {names.size} names, but {type(estimator).__name__} was fitted on "
            f"{estimator.n_features_in_} features; give one name per feature."
        )
    if fitted is not None and not np.array_equal(names, fitted):
        raise ParameterError(
            f"input_features is not equal to feature_names_in_: {type(estimator).__name__} was fitted on "
            f"the columns {fitted.tolist()[:5]}{' ...' if fitted.size > 5 else ''}; give those names, or "
            "leave input_features out."
        )
    return names


def check_features(X, *, what: str = "X", finite: bool = True, allow_nan: bool = False):
    """``X`` as a 2D float array on its device, all values finite (unless ``finite=False``; NaN
    allowed with ``allow_nan``, infinite values not).

    The messages hold the phrases scikit-learn's own checks use ("Reshape your data", "0 feature(s)",
    "sparse", "Complex data not supported"), so its estimator checks recognise them.

    Raises
    ------
    ParameterError
        If ``X`` is sparse, not 2D, holds no samples or no features, or does not hold real numbers.
    FeatureError
        If ``X`` holds NaN (unless ``allow_nan``) or infinite values.
    """
    if _is_sparse(X):
        raise ParameterError(
            f"{what} is a sparse matrix; sparse input is not supported here: pass {what}.toarray()."
        )
    columns = getattr(X, "columns", None)  # a DataFrame's, to name its columns of text
    names = _names(X)  # and of features, where all are strings
    xp = namespace(X).xp
    X = _numeric_frame(X) if _is_pandas(X) else xp.asarray(X)
    if X.ndim != 2:
        raise ParameterError(
            f"{what} must be a 2D table (samples, features); got shape {X.shape}. Reshape your data: "
            f"{what}.reshape(-1, 1) if it holds one feature, {what}.reshape(1, -1) if one sample."
        )
    if 0 in X.shape:
        raise ParameterError(
            f"{what} has {X.shape[0]} sample(s) and {X.shape[1]} feature(s) (shape={X.shape}) while a "
            "minimum of 1 is required; give a table with at least one of each."
        )
    if X.dtype.kind == "c":
        raise ParameterError(
            f"{what} holds complex numbers ({X.dtype}). Complex data not supported: pass the real "
            "part, the magnitude (abs) or both as separate features."
        )
    if X.dtype.kind in "US":  # refused whole, as scikit-learn's check_array refuses text arrays
        text = _text_columns(X, columns)
        raise ParameterError(
            f"{what} holds text (dtype {X.dtype}){text}; "
            + (
                "encode it as numbers first (sklearn.preprocessing.OneHotEncoder for categories), or drop "
                "those columns."
                if text
                else f"convert its text of numbers with {what}.astype(float)."
            )
        )
    if X.dtype.kind == "O":
        try:
            X = X.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"{what} holds values that are not numbers (dtype object){_text_columns(X, columns)}; "
                "encode them as numbers first (sklearn.preprocessing.OneHotEncoder for categories), or "
                "drop those columns."
            ) from exc
    if X.dtype.kind not in "fiub":
        raise ParameterError(f"{what} must hold numbers; got dtype {X.dtype}.")
    if X.dtype.kind != "f":
        X = X.astype(np.float64)
    if not finite:
        return X
    finite = ~xp.isinf(X) if allow_nan else xp.isfinite(X)
    if not bool(finite.all()):
        bad = xp.nonzero(~finite.all(axis=0))[0]
        # A DataFrame's columns by name (where all are strings, as feature_names_in_): an index
        # (first: [87]) into a table of radiomics features sent the user counting columns.
        first = [int(c) if names is None else names[int(c)] for c in bad[:10]]
        values = "infinite values" if allow_nan else "NaN or infinite values"
        raise FeatureError(
            f"{what} holds {values} in {count(int(bad.size), 'feature column')} (first: {first}); "
            "impute them (sklearn.impute.SimpleImputer) or drop those features first."
        )
    return X


def _is_pandas(X) -> bool:
    """Whether ``X`` is a pandas DataFrame (without importing pandas)."""
    return type(X).__module__.startswith("pandas") and hasattr(X, "dtypes") and hasattr(X, "to_numpy")


def _numeric_frame(X) -> np.ndarray:
    """A DataFrame as a NumPy array; one of numbers with pandas' nullable columns (Float64, Int64,
    boolean) as float64 with NaN for their missing values (pandas' NA, which NumPy cannot convert:
    such a table was refused as 'values that are not numbers'), as scikit-learn reads it."""
    nullable = any(not isinstance(dtype, np.dtype) for dtype in X.dtypes)
    if nullable and all(getattr(dtype, "kind", "O") in "biuf" for dtype in X.dtypes):
        return X.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.asarray(X)


def _text_columns(X, columns) -> str:
    """`` in column 'name' ('value')`` for each column of ``X`` (a host table) holding a value that
    is not a number, named as in the DataFrame ``columns`` were given, else by index."""
    bad = []
    for j in range(X.shape[1]):
        for value in X[:, j]:
            try:
                float(value)
            except (TypeError, ValueError):
                bad.append((j if columns is None else columns[j], value))
                break
    if not bad:
        return ""
    shown = ", ".join(f"{name!r} ({str(value)!r})" for name, value in bad[:5])
    return f" in column{'s' if len(bad) > 1 else ''} {shown}{', ...' if len(bad) > 5 else ''}"


def check_seed(random_state, name: str = "random_state"):
    """``random_state`` as scikit-learn takes it (None, an integer in [0, 2**32 - 1], a
    ``numpy.random.RandomState``), or a :class:`~gpuimg.errors.ParameterError` naming it."""
    if random_state is None or isinstance(random_state, np.random.RandomState):
        return random_state
    if isinstance(random_state, (int, np.integer)) and 0 <= random_state < 2**32:
        return random_state
    raise ParameterError(
        f"{name}={random_state!r} must be None, an integer in [0, 2**32 - 1] or a numpy.random.RandomState, "
        "as scikit-learn takes it (not a numpy.random.Generator): pass an integer seed, e.g. "
        "int(rng.integers(2**32)) of a Generator rng."
    )


def check_width(estimator, X) -> None:
    """Raise :class:`~gpuimg.errors.ParameterError` unless ``X`` has the number of features the fitted
    ``estimator`` saw (``n_features_in_``), in scikit-learn's words."""
    if X.shape[1] != estimator.n_features_in_:
        raise ParameterError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input (the number it was fitted on)."
        )


def remember_names(estimator, X) -> None:
    """``feature_names_in_``: the column names of a DataFrame ``X`` where all are strings, as
    scikit-learn keeps them; removed when refitted on an array.

    Raises
    ------
    ParameterError
        If the columns' names mix text with other types (as scikit-learn refuses them).
    """
    names = _feature_names(X)
    if names is not None:
        estimator.feature_names_in_ = names
    elif hasattr(estimator, "feature_names_in_"):
        del estimator.feature_names_in_


def check_names(estimator, X, *, warn: bool = True) -> None:
    """Raise :class:`~gpuimg.errors.ParameterError` when the DataFrame ``X`` names other columns, or
    the same in another order, than the one the estimator was fitted on, in scikit-learn's words: the
    columns would be taken by their place, each as the feature fitted there; or whose columns' names
    mix text with other types, as scikit-learn refuses them.

    Where one of the two has names and the other none (an array, or columns not all named by
    strings), the columns are taken by their place, as in scikit-learn, which warns of it: so does
    this, with its words (a UserWarning), unless ``warn`` is False (for a caller whose next step
    checks ``X`` again)."""
    fitted, names = getattr(estimator, "feature_names_in_", None), _feature_names(X)
    if warn and (fitted is None) != (names is None):
        name = type(estimator).__name__
        warnings.warn(
            f"X does not have valid feature names, but {name} was fitted with feature names"
            if names is None
            else f"X has feature names, but {name} was fitted without feature names",
            UserWarning,
            stacklevel=caller_level(__file__),
        )
    if fitted is None or names is None or np.array_equal(fitted, names):
        return
    unseen = [n for n in names if n not in set(fitted)]
    missing = [n for n in fitted if n not in set(names)]
    reason = "".join(
        f"{title}:\n" + "".join(f"- {n}\n" for n in listed[:5]) + ("- ...\n" if len(listed) > 5 else "")
        for title, listed in (
            ("Feature names unseen at fit time", unseen),
            ("Feature names seen at fit time, yet now missing", missing),
        )
        if listed
    )
    raise ParameterError(
        "The feature names should match those that were passed during fit.\n"
        f"{reason or 'Feature names must be in the same order as they were in fit.' + chr(10)}"
        f"Pass X with the columns {type(estimator).__name__} was fitted on, in that order "
        "(X[model.feature_names_in_])."
    )


def _feature_names(X):
    """:func:`_names`, after refusing column names of text mixed with names of other types: scikit-learn
    refuses such a table (a DataFrame of features beside columns 0, 1, ... of an array), where
    gpuimg kept no names, so columns given in another order at predict were taken by their place.

    Names given twice are refused too, as scikit-learn refuses them: two columns of one name could
    come in either order at predict without a word, and ``X[model.feature_names_in_]`` took each
    of them twice."""
    columns = getattr(X, "columns", None)
    kinds = set() if columns is None else {type(name).__name__ for name in np.asarray(columns, dtype=object)}
    if "str" in kinds and len(kinds) > 1:
        raise ParameterError(
            "Feature names are only supported if all input features have string names, but your input "
            f"has {sorted(kinds)} as feature name / column name types: convert them all to strings "
            "(X.columns = X.columns.astype(str)), or all to another type to use no names."
        )
    names = _names(X)
    repeated = {} if names is None else {n: k for n, k in collections.Counter(names).items() if k > 1}
    if repeated:
        shown = ", ".join(f"{name!r} ({k} times)" for name, k in list(repeated.items())[:5])
        raise ParameterError(
            f"X has {count(len(repeated), 'column name')} given to several columns: {shown}"
            f"{', ...' if len(repeated) > 5 else ''}. Each feature needs a name of its own, as in "
            "scikit-learn: rename the copies (e.g. after the extraction they come from), or drop them "
            "(X.loc[:, ~X.columns.duplicated()])."
        )
    return names


def _names(X):
    """The column names of a DataFrame ``X`` as an object array where all are strings, else None."""
    columns = getattr(X, "columns", None)
    names = None if columns is None else np.asarray(columns, dtype=object)
    return names if names is not None and all(isinstance(name, str) for name in names) else None


def _is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy or CuPy sparse matrix or array (without importing either)."""
    module = type(X).__module__
    return module.startswith(("scipy.sparse", "cupyx.scipy.sparse")) and hasattr(X, "toarray")


def check_sample_weight(sample_weight, X, ns, dtype=None):
    """``sample_weight`` as one finite weight per sample (row) of ``X``, in ``dtype`` (default X's float
    dtype) on the device of the namespace ``ns`` (a host array is copied there); a number weighs every
    sample alike, as in scikit-learn.

    Raises
    ------
    ParameterError
        Weights that are not numbers, not one per sample, or not finite (scikit-learn's SVC fits NaN
        weights without a word).
    DeviceError
        Weights on the GPU for ``X`` on the CPU.
    """
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(X.shape[0], float(sample_weight))
    try:
        weights = on_device(ns, sample_weight, "sample_weight", dtype=X.dtype if dtype is None else dtype)
    except (TypeError, ValueError) as exc:
        raise ParameterError(
            f"sample_weight must hold numbers, one weight per sample; {exc}. Give an array of "
            f"{X.shape[0]} weights."
        ) from exc
    if weights.shape != (X.shape[0],):
        raise ParameterError(
            f"sample_weight has shape {weights.shape}, but X has {X.shape[0]} samples; give one weight "
            f"per sample, an array of shape ({X.shape[0]},)."
        )
    bad = int(ns.xp.count_nonzero(~ns.xp.isfinite(weights)))  # xp's: an array-API array has no .sum()
    if bad:
        raise ParameterError(
            f"sample_weight holds NaN or infinite values for {count(bad, 'sample')}; "
            "give each sample a finite weight (0 leaves it out)."
        )
    return weights


def check_target(X, y, *, classification: bool):
    """``y`` as a 1D array as long as ``X``; for classification, with at least two classes."""
    y = check_target_length(X, y, classification=classification)
    xp = namespace(y).xp
    if classification:
        if y.dtype.kind == "O":
            check_comparable(y, "y")
            missing = int(missing_labels(y).sum())
            if missing:
                raise ParameterError(_MISSING_CLASS.format(count(missing, "sample")))
        elif y.dtype.kind == "f":
            _check_class_floats(xp, y)
        classes = xp.unique(y)
        if classes.size < 2:
            raise ParameterError(
                f"y holds one class only ({classes.tolist()}); a classifier needs at least two classes."
            )
    elif y.dtype.kind not in "biuf":
        y = _as_numbers(y)
    if not classification and y.dtype.kind == "f" and not bool(xp.isfinite(y).all()):
        raise ParameterError("y holds NaN or infinite values; a regressor needs finite targets.")
    return y


def check_target_length(X, y, *, classification: bool):
    """``y`` as a 1D array as long as ``X`` (a column vector is ravelled, with scikit-learn's
    warning), its values unchecked: what ``fit`` and ``score`` both need of it.

    Raises
    ------
    ParameterError
        If ``y`` is None, holds several targets per sample, or is not one target per sample of ``X``.
    """
    if y is None:
        raise ParameterError(
            "This estimator requires y to be passed, but the target y is None; give one target per "
            "sample (row of X)."
        )
    xp = namespace(y).xp
    y = xp.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            "A column-vector y was passed when a 1d array was expected; it is read as y.ravel().",
            DataConversionWarning,
            stacklevel=4,
        )
        y = y.ravel()
    if y.ndim == 2 and y.shape[0] == X.shape[0]:  # several targets (or labels) per sample
        wrapper = "MultiOutputClassifier" if classification else "MultiOutputRegressor"
        raise ParameterError(
            f"y has {y.shape[1]} targets per sample (shape {y.shape}); these estimators fit one: fit one "
            f"model per column of y, e.g. sklearn.multioutput.{wrapper}(model)."
        )
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ParameterError(
            f"X has {X.shape[0]} samples but y has shape {y.shape}; give one target per sample (row of X)."
        )
    return y


#: A classifier's target with labels missing.
_MISSING_CLASS = "y has no class label (NaN, None) for {}; drop those samples or give each a class."


def _check_class_floats(xp, y) -> None:
    """Refuse float class labels that are missing or continuous (one device read for both)."""
    finite = xp.isfinite(y)
    missing, fractional = xp.stack([(~finite).sum(), (finite & (y != xp.floor(y))).sum()]).tolist()
    if missing:
        raise ParameterError(_MISSING_CLASS.format(count(missing, "sample")))
    if fractional:
        raise ParameterError(
            f"y holds continuous values ({count(fractional, 'sample')} not whole numbers; Unknown label "
            "type: continuous); a classifier needs class labels: use a regressor, or bin the target."
        )


def _as_numbers(y) -> np.ndarray:
    """A regressor's target of objects or strings as float64, or a ParameterError."""
    try:
        return np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        shown = ", ".join(repr(v) for v in y[:3].tolist())
        raise ParameterError(
            f"y must hold numbers for a regressor; got dtype {y.dtype} ({shown}, ...). Use a classifier "
            "for class labels, or convert the target to numbers."
        ) from None


def missing_labels(values: np.ndarray) -> np.ndarray:
    """Which labels are missing: NaN, and in an object array None or pandas' NA as well."""
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind != "O":
        return np.zeros(values.shape, dtype=bool)
    return np.array([_is_missing(value) for value in values], dtype=bool)


def _is_missing(value) -> bool:
    try:
        return value is None or bool(value != value)
    except TypeError:  # pandas' NA, whose comparisons are neither true nor false
        return True


def check_comparable(values: np.ndarray, name: str) -> None:
    """Refuse labels of an object array that cannot be sorted together (patient IDs 17 beside "P18")."""
    try:
        np.unique(values[~missing_labels(values)])
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise ParameterError(
            f"{name} mixes labels of types {kinds}, which cannot be compared; give them one type, e.g. "
            f"{name}.astype(str)."
        ) from None
