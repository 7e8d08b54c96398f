"""What ``import gpuimg`` loads: every process pays for it (each script, each ``gpuimg`` command, each
Dask worker), so libraries that only some functions use load when those functions are first called."""

import subprocess
import sys

import pytest

#: Loaded on first use only: Numba (the kernels, under gpuimg.edges, .preprocess, .morphology,
#: .features, .contours) and its CUDA target (the first CUDA launch), scikit-image, scikit-learn
#: (gpuimg.ml), Dask and distributed (chunked arrays, cohorts), pandas, PyArrow and matplotlib (cohort
#: tables and reports), scipy.spatial (morphology features' convex hull) and nibabel (NIfTI files).
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
    loaded = set(_loaded(statement))
    assert {"numba", "skimage", "sklearn"} <= loaded
    assert "numba.cuda" not in loaded  # the CUDA target loads on first CUDA use only


def test_numba_cuda_loads_on_first_cuda_use_only():
    """CPU kernels run without numba.cuda (a quarter of a second, and more on a loaded machine, in
    every process); the first CUDA use loads it and gives every kernel module the real module."""
    statement = (
        "import numpy as np, gpuimg\n"
        "from gpuimg.kernels import load_all, registry\n"
        "gpuimg.edges.sobel(np.ones((4, 5, 6))); gpuimg.morphology.label(np.ones((3, 3, 3), bool))\n"
        "load_all()\n"
        "assert 'numba.cuda' not in sys.modules\n"
        "cuda = registry.load_cuda()\n"
        "import numba.cuda, gpuimg.kernels.histogram as histogram\n"
        "assert cuda is numba.cuda and histogram.cuda is cuda and registry.cuda is cuda\n"
    )
    assert "numba.cuda" in _loaded(statement)


def test_a_cohort_run_without_learning_tasks_leaves_scikit_learn_unloaded(tmp_path):
    """scikit-learn (most of a second) loads for a run's learning tasks only: a features-only run, the
    common first step on a cohort, does without it, as its Dask workers do."""
    statement = (
        "from gpuimg.cohort import run_pipeline, spec_from_dict\n"
        "from gpuimg.datasets.demo import write_demo_cohort\n"
        f"cohort = write_demo_cohort({str(tmp_path / 'cohort')!r}, 4)\n"
        "spec = {'mask': {'source': 'recipe', 'threshold': [-400, 400]},\n"
        "        'features': {'families': ['statistics']}}\n"
        f"manifest = run_pipeline(spec_from_dict(spec), cohort, {str(tmp_path / 'out')!r}, progress=False)\n"
        "assert manifest['rows'] == 4, manifest\n"
    )
    assert "sklearn" not in _loaded(statement)
