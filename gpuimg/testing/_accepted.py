"""The values the real GPU libraries accept, checked on every call of the emulated device.

Where the library validates an argument in Python before any GPU work, its own validator is called
(so the check is the library's); otherwise a table here says what the library's source accepts, with
the place it comes from.
"""

import importlib


def _cupyx_ndimage(private: str):
    return importlib.import_module(f"cupyx.scipy.ndimage.{private}")


def _each(value):
    return [value] if isinstance(value, str) else list(value)


def _filter_mode(name, arguments):
    """cupyx's filters take SciPy's modes except ``grid-constant`` (``_util._check_mode``)."""
    for mode in _each(arguments["mode"]):
        _cupyx_ndimage("_util")._check_mode(mode)


def _interpolation_mode(name, arguments):
    """cupyx's interpolation (``_interpolation._check_parameter``): spline order and mode."""
    order = arguments.get("order", 1)
    _cupyx_ndimage("_interpolation")._check_parameter(name, order, arguments["mode"])


def _distance_ndim(name, arguments):
    """cupyx's ``distance_transform_edt`` (``_distance_transform.py``): 2D and 3D only."""
    if next(iter(arguments.values())).ndim not in (2, 3):
        raise NotImplementedError("Only 2D and 3D distance transforms are supported.")


def check(name: str, real, arguments: dict) -> None:
    """Raise what the real library raises for these (bound, defaults applied) arguments."""
    module = getattr(real, "__module__", "") or ""
    if module.startswith("cupyx.scipy.ndimage"):
        if name.endswith(".distance_transform_edt"):
            _distance_ndim(name, arguments)
        if "mode" in arguments:
            if module.endswith("_interpolation"):
                _interpolation_mode(name, arguments)
            else:
                _filter_mode(name, arguments)


def check_cuml(estimator) -> None:
    """Raise where cuML would reject the parameters of ``estimator`` (a real, unfitted cuML object)."""
    name = type(estimator).__name__
    params = estimator.get_params()
    if name.startswith("RandomForest"):
        # cuML's own lookup warns and picks an invalid criterion, which the C++ fit rejects.
        lookup = importlib.import_module("cuml.ensemble.randomforest_common")._split_criterion_lookup
        if str(params["split_criterion"]) not in lookup or params["split_criterion"] in ("7", 7):
            raise ValueError(f"cuML's {name} has no split_criterion {params['split_criterion']!r}")
    for param, accepted in CUML.get(name, {}).items():
        if params[param] not in accepted:
            raise ValueError(f"cuML's {name} takes {param} in {sorted(accepted)}; got {params[param]!r}")


#: cuML's accepted values for the parameters it validates only at fit time (in compiled code or
#: later in Python): class name -> parameter -> accepted values, from cuML 26.10's source.
CUML = {
    # cuml/linear_model/logistic_regression.py: "solver : {'qn'}".
    "LogisticRegression": {"solver": {"qn"}},
    # cuml/linear_model/ridge.pyx: "solver : {'auto', 'eig', 'svd', 'lsmr'}".
    "Ridge": {"solver": {"auto", "eig", "svd", "lsmr"}},
    # cuml/decomposition/pca.pyx: "Expected `svd_solver` to be one of ['auto', 'full', 'jacobi']".
    "PCA": {"svd_solver": {"auto", "full", "jacobi"}},
    # cuml/cluster/dbscan.pyx: "algorithm: {'brute', 'rbc'}".
    "DBSCAN": {"algorithm": {"brute", "rbc"}},
}
