"""What ``import gpuimg`` loads: every process pays for it (each script, each ``gpuimg`` command, each
Dask worker), so libraries that only some functions use load when those functions are first called."""

import subprocess
import sys

import pytest

#: Loaded on first use only: scikit-learn (gpuimg.ml), Dask and distributed (chunked arrays, cohorts),
#: pandas, PyArrow and matplotlib (cohort tables and reports), scipy.spatial (morphology features'
#: convex hull) and nibabel (NIfTI files).
LAZY = ("sklearn", "dask", "distributed", "pandas", "pyarrow", "matplotlib", "scipy.spatial", "nibabel")


def _loaded(statement: str) -> list[str]:
    script = f"import sys\n{statement}\nprint(' '.join(m for m in {LAZY!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.parametrize("statement", ["import gpuimg", "import gpuimg.cli"])
def test_import_leaves_optional_libraries_unloaded(statement):
    assert _loaded(statement) == []
