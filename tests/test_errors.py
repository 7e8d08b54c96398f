"""gpuimg.errors: one base class, and the built-in exception each error resembles."""

import pytest

import gpuimg


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (gpuimg.ParameterError, ValueError),
        (gpuimg.DeviceError, RuntimeError),
        (gpuimg.GeometryError, ValueError),
        (gpuimg.DicomError, ValueError),
        (gpuimg.FeatureError, ValueError),
        (gpuimg.ConfigError, ValueError),
    ],
)
def test_every_error_is_a_gpuimg_error_and_its_builtin(error, builtin):
    with pytest.raises(gpuimg.GpuimgError):
        raise error("message")
    with pytest.raises(builtin):
        raise error("message")


def test_not_fitted_error_is_scikit_learns_and_pickles():
    """Made on first use (it needs scikit-learn), yet one class, found by pickle as gpuimg.errors'."""
    import pickle

    from sklearn.exceptions import NotFittedError

    from gpuimg.errors import NotFittedError as ours

    assert ours is gpuimg.NotFittedError and issubclass(ours, NotFittedError)
    assert issubclass(ours, gpuimg.GpuimgError) and issubclass(ours, ValueError)
    again = pickle.loads(pickle.dumps(ours("call fit first")))
    assert type(again) is ours and str(again) == "call fit first"
    with pytest.raises(AttributeError, match="NoSuchError"):
        gpuimg.errors.NoSuchError  # noqa: B018


def test_a_study_worker_does_not_import_scikit_learn():
    """A Dask worker imports the study task's module; scikit-learn (most of a second) stays unloaded."""
    import subprocess
    import sys

    script = (
        "import sys, gpuimg, gpuimg.cohort.run, gpuimg.cohort._dask, gpuimg.cohort.study\n"
        "loaded = sorted(m for m in ('sklearn', 'pandas', 'matplotlib') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
        "assert gpuimg.ml.make_estimator and 'sklearn' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
