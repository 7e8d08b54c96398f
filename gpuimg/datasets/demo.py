"""The demo cohort: lung-nodule CT crops whose class and a continuous target follow shape and texture."""

import csv
import math
import os
import shutil
from pathlib import Path

import numpy as np
from scipy import ndimage

from gpuimg._support import check_finite, check_sizes, check_spacing, random_generator
from gpuimg.errors import ParameterError, WriteError
from gpuimg.io import write_dicom
from gpuimg.volume import AXIAL, Volume

#: Bytes of a demo slice's DICOM file besides its voxels (its header and meta group: about 1200).
_SLICE_HEADER_BYTES = 1500

#: Mean values [HU]: lung parenchyma around the nodule, the nodule itself.
LUNG_HU, NODULE_HU = -800.0, 30.0
#: The pipeline spec of the demo (TOML), run by ``gpuimg demo`` on the cohort this module writes.
DEMO_SPEC = """\
# The gpuimg demo pipeline: a nodule segmented by a threshold recipe on the smoothed CT, its shape,
# intensity and texture features measured on the original CT, then classified, regressed, clustered.
[input]
modality = "CT"

[mask]
source = "recipe"
threshold = [-400, 400]   # HU: soft tissue, not lung
opening_mm = 1.5
fill_holes = true
largest = true

[[preprocess]]
step = "gaussian_filter"
sigma_mm = 1.0

[edges]
operator = "sobel"

[features]
image = "original"        # segment on the smoothed image, measure on the original one
discretisation = "fbs"
bin_width = 25.0
ivh_discretisation = "none"

[learning]
labels = "labels.csv"
id_column = "patient_id"
folds = 5
random_state = 0

[learning.classification]
target = "malignant"
estimator = "logistic_regression"
params = { C = 0.1, max_iter = 2000 }   # strongly regularised: a few hundred features, 40 patients

[learning.regression]
target = "growth"
estimator = "ridge"
params = { alpha = 1.0 }

[learning.clustering]
estimator = "kmeans"
params = { n_clusters = 2, n_init = 10 }
"""


def demo_nodule(
    radius_mm: float,
    spiculation: float,
    heterogeneity_hu: float,
    *,
    shape: tuple[int, int, int] = (32, 48, 48),
    spacing: tuple[float, float, float] = (2.0, 1.25, 1.25),
    noise_hu: float = 20.0,
    seed: int | None = None,
) -> tuple[Volume, np.ndarray]:
    """A CT crop [HU] of one nodule in lung, and its true mask.

    Parameters
    ----------
    radius_mm : float [mm]
        Base radius of the nodule.
    spiculation : float
        Relative amplitude of the spikes of its outline (0: a ball).
    heterogeneity_hu : float [HU]
        Standard deviation of the smooth internal texture.
    shape : tuple of 3 int
        Voxels (z, y, x); the nodule is centred.
    spacing : tuple of 3 float [mm]
    noise_hu : float [HU]
        Gaussian noise everywhere.
    seed : int, numpy.random.Generator or RandomState, optional
        The same seed (an integer of at least 0) gives the same nodule.

    Returns
    -------
    (Volume, ndarray)
        int16 CT volume and the bool mask of the nodule (``mask.any()`` is False only if the volume is
        smaller than a voxel of nodule).

    Raises
    ------
    ParameterError
        A radius that is not positive, a negative or non-finite spiculation, heterogeneity or noise,
        a shape that is not 3 positive whole numbers, a spacing that is not positive, a seed NumPy
        cannot seed with (-1, 1.5, "a").

    Examples
    --------
    >>> ct, mask = demo_nodule(8.0, 0.0, 0.0, seed=0)
    >>> ct.shape, bool(mask[16, 24, 24])
    ((32, 48, 48), True)
    """
    check_finite(radius_mm, "radius_mm", low=math.ulp(0.0))
    check_finite(spiculation, "spiculation", low=0.0)
    check_finite(heterogeneity_hu, "heterogeneity_hu", low=0.0)
    check_finite(noise_hu, "noise_hu", low=0.0)
    shape = tuple(int(n) for n in check_sizes(shape, 3, "shape"))
    spacing = check_spacing(spacing, 3)
    rng = random_generator(seed)
    z, y, x = (
        ((np.arange(n) - (n - 1) / 2) * s).reshape([-1 if k == axis else 1 for k in range(3)])
        for axis, (n, s) in enumerate(zip(shape, spacing, strict=True))
    )
    distance = np.sqrt(z**2 + y**2 + x**2)
    theta = np.arccos(np.clip(z / np.maximum(distance, 1e-9), -1, 1))
    phi = np.arctan2(y, x) + rng.uniform(0, 2 * np.pi)
    spikes = int(rng.integers(5, 9))
    modulation = 1 + spiculation * np.maximum(np.sin(spikes * theta) * np.sin(spikes * phi), 0) ** 2
    mask = distance <= radius_mm * modulation
    texture = ndimage.gaussian_filter(rng.standard_normal(shape), 1.2)
    spread = float(texture[mask].std()) if mask.any() else 0.0
    texture *= heterogeneity_hu / spread if spread > 0 else 0.0  # one voxel has no spread to scale
    image = np.where(mask, NODULE_HU + texture, LUNG_HU) + rng.normal(0, noise_hu, shape)
    origin = AXIAL @ (-(np.array(shape) - 1) / 2 * np.array(spacing))
    data = np.clip(np.rint(image), -1024, 3071).astype(np.int16)
    return Volume(data, spacing, origin, AXIAL, {"modality": "CT", "description": "demo nodule"}), mask


def write_demo_cohort(
    folder: str | os.PathLike,
    n_studies: int = 40,
    seed: int = 0,
    *,
    shape: tuple[int, int, int] = (32, 48, 48),
) -> Path:
    """Write the demo cohort: one CT series per patient, ``labels.csv`` and ``pipeline.toml``.

    Parameters
    ----------
    folder : str or path
        Created; gets ``cohort/study_000/`` ... (DICOM, one file per slice), ``labels.csv`` (columns
        ``patient_id``, ``malignant``, ``growth``) and ``pipeline.toml`` (:data:`DEMO_SPEC`).
    n_studies : int
        Patients (one study each), at least 4.
    seed : int, numpy.random.Generator or RandomState
        The same seed (an integer of at least 0) writes the same voxels and labels (UIDs are fresh).
    shape : tuple of 3 int
        Voxels (z, y, x) of each crop; spacing 2 x 1.25 x 1.25 mm.

    Returns
    -------
    Path
        ``folder/cohort``, the input of ``gpuimg run``.

    Raises
    ------
    ParameterError
        If ``n_studies`` is not a whole number of at least 4, or ``shape`` not 3 positive whole numbers.
    WriteError
        If the cohort's DICOM files (about ``n_studies * z * (2 * y * x + 1500)`` bytes) exceed the free
        space of the disk ``folder`` is on; nothing is written then.

    Notes
    -----
    Each nodule draws its radius (5 to 10 mm), spiculation ``s`` (0 to 0.8) and texture
    heterogeneity ``h`` (0 to 60 HU). It is malignant when ``s / 0.8 + h / 60 + e > 1`` with
    ``e ~ N(0, 0.2)``, and its growth rate [%/month] is ``10 s + 0.1 h + 0.2 radius + N(0, 0.5)``:
    shape and texture features predict both, with irreducible noise.
    """
    if isinstance(n_studies, bool) or not isinstance(n_studies, int | np.integer) or n_studies < 4:
        raise ParameterError(f"n_studies={n_studies!r}: the demo needs at least 4 studies for its folds.")
    root = Path(folder)
    _check_disk(root, n_studies, tuple(int(n) for n in check_sizes(shape, 3, "shape")))
    cohort = root / "cohort"
    rng = random_generator(seed)
    labels = []
    for i in range(n_studies):
        radius, s, h = rng.uniform(5, 10), rng.uniform(0, 0.8), rng.uniform(0, 60)
        malignant = int(s / 0.8 + h / 60 + rng.normal(0, 0.2) > 1)
        growth = 10 * s + 0.1 * h + 0.2 * radius + rng.normal(0, 0.5)
        ct, _ = demo_nodule(radius, s, h, shape=shape, seed=int(rng.integers(2**31)))
        patient = f"DEMO-{i:03d}"
        write_dicom(ct, cohort / f"study_{i:03d}", patient_id=patient, overwrite=True)
        labels.append({"patient_id": patient, "malignant": malignant, "growth": round(growth, 3)})
    with open(root / "labels.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["patient_id", "malignant", "growth"])
        writer.writeheader()
        writer.writerows(labels)
    (root / "pipeline.toml").write_text(DEMO_SPEC)
    return cohort


def _check_disk(root: Path, n_studies: int, shape: tuple[int, int, int]) -> None:
    """Refuse a cohort whose DICOM files (int16 voxels and a header a slice) exceed the free space of
    the disk ``root`` is on, before any is written: a count mistyped with extra zeros filled the disk."""
    need = n_studies * shape[0] * (2 * shape[1] * shape[2] + _SLICE_HEADER_BYTES)
    place = next(p for p in (root.absolute(), *root.absolute().parents) if p.exists())
    free = shutil.disk_usage(place).free
    if need > free:
        raise WriteError(
            f"n_studies={n_studies}: the demo cohort of {n_studies} studies of {'x'.join(map(str, shape))} "
            f"voxels needs about {need / 1e9:.3g} GB of DICOM files, and {place} has {free / 1e9:.3g} GB "
            "free; ask for fewer studies (gpuimg demo --studies) or a smaller shape, or another folder "
            "(--out)."
        )
