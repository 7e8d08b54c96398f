"""What ``import gpuimg`` loads: every process pays for it (each script, each ``gpuimg`` command, each
Dask worker), so libraries that only some functions use load when those functions are first called."""

import subprocess
import sys

import pytest

#: Loaded on first use only: Numba with its CUDA target (the kernels, under gpuimg.edges,
#: .preprocess, .morphology, .features, .contours), scikit-image, scikit-learn (gpuimg.ml), Dask and
#: distributed (chunked arrays, cohorts), pandas, PyArrow and matplotlib (cohort tables and reports),
#: scipy.spatial (morphology features' convex hull) and nibabel (NIfTI files).
LAZY = (
    "numba",
    "numba.cuda",
    "skimage",
    "sklearn",
    "dask",
    "distributed",
    "pandas",
    "pyarrow",
    "matplotlib",
    "scipy.spatial",
    "nibabel",
)


def _loaded(statement: str) -> list[str]:
    script = f"import sys\n{statement}\nprint(' '.join(m for m in {LAZY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize(
    "statement",
    [
        "import gpuimg",
        "import gpuimg.cli",
        "import gpuimg; gpuimg.list_series, gpuimg.read_image, gpuimg.Volume",
        "from gpuimg.cohort.privacy import pseudonym, scrub",  # what `gpuimg info` imports
    ],
)
def test_import_leaves_optional_libraries_unloaded(statement):
    assert _loaded(statement) == []


def test_subpackages_load_on_first_use():
    """``gpuimg.edges`` (attribute) and ``from gpuimg import features`` load the subpackage and its
    kernels, ``gpuimg.cohort.run_pipeline`` its module; every name of ``gpuimg.__all__`` resolves."""
    statement = (
        "import gpuimg, gpuimg.cohort\n"
        "assert gpuimg.cohort.spec.STEPS and gpuimg.cohort.study.__name__ == 'gpuimg.cohort.study'\n"
        "from gpuimg import features\n"
        "assert features.extract and gpuimg.edges.canny and gpuimg.morphology.label\n"
        "assert gpuimg.kernels.load_all and gpuimg.cohort.run_pipeline and gpuimg.cohort.Spec\n"
        "assert all(getattr(gpuimg, name) is not None for name in gpuimg.__all__)\n"
    )
    assert {"numba", "numba.cuda", "skimage", "sklearn"} <= set(_loaded(statement))
