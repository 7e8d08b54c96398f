"""A small synthetic cohort on disk: one CT series and one lesion mask per patient."""

import os
from pathlib import Path

import numpy as np

from gpuimg._support import check_flag, random_generator, shown
from gpuimg._text import count
from gpuimg.datasets.phantom import LESION_SHAPES, LESION_TEXTURES, ct_phantom
from gpuimg.errors import ParameterError
from gpuimg.io import write_dicom, write_image


def write_cohort(
    folder: str | os.PathLike,
    n_patients: int = 4,
    seed: int | None = None,
    *,
    shape: tuple[int, int, int] = (32, 96, 96),
    spacing: tuple[float, float, float] = (2.5, 3.0, 3.0),
    overwrite: bool = False,
) -> list[Path]:
    """Write ``n_patients`` phantom CT studies as DICOM series, with their lesion masks as NRRD.

    Parameters
    ----------
    folder : str or path
        Created if needed; patient ``i`` goes to ``folder/patient_{i:03d}/`` as ``ct/`` (one DICOM
        file per slice) and ``lesions.nrrd`` (uint8 label map, same geometry).
    n_patients : int
        Number of patients.
    seed : int, numpy.random.Generator or RandomState, optional
        The same seed (an integer of at least 0) writes the same voxels (UIDs are always fresh).
    shape : tuple of 3 int
        Voxels along z, y, x of each CT.
    spacing : tuple of 3 float [mm]
        Voxel spacing along z, y, x.
    overwrite : bool
        Replace the patients of an earlier ``write_cohort`` in ``folder`` instead of refusing to.

    Returns
    -------
    list of Path
        The patient folders, in order.

    Raises
    ------
    ParameterError
        If ``folder`` already holds one of the patients and ``overwrite`` is False, ``n_patients`` is
        not a whole number 0 or more, ``overwrite`` not True or False, or ``seed`` one NumPy cannot
        seed with (-1, 1.5, "a").

    Notes
    -----
    Patients differ in lesion count (1 to 4), lesion shape and texture (cycled through
    ``LESION_SHAPES`` and ``LESION_TEXTURES``) and noise (10 to 20 HU), so features computed on the
    cohort vary with the ground truth.

    Examples
    --------
    >>> import tempfile
    >>> from gpuimg.datasets import write_cohort
    >>> folder = tempfile.mkdtemp()
    >>> [p.name for p in write_cohort(folder, 2, seed=0, shape=(8, 24, 24))]
    ['patient_000', 'patient_001']
    >>> len(write_cohort(folder, 2, seed=0, shape=(8, 24, 24), overwrite=True))  # again
    2
    """
    if not isinstance(n_patients, int | np.integer) or isinstance(n_patients, bool) or n_patients < 0:
        raise ParameterError(f"n_patients={shown(n_patients)} must be a whole number, 0 or more.")
    overwrite = check_flag(overwrite, "overwrite")
    source = random_generator(seed)
    root = Path(folder)
    earlier = [p for i in range(n_patients) if (p := root / f"patient_{i:03d}").exists()]
    if earlier and not overwrite:
        raise ParameterError(
            f"{root} already holds {count(len(earlier), 'patient')} of an earlier write_cohort "
            f"({earlier[0].name}...); pass overwrite=True to replace them, or write to another folder."
        )
    patients = []
    for i, rng in enumerate(_spawn(source, n_patients)):
        ct, mask = ct_phantom(
            shape,
            spacing,
            seed=int(rng.integers(2**31)),
            n_lesions=int(rng.integers(1, 5)),
            lesion_shape=LESION_SHAPES[i % len(LESION_SHAPES)],
            lesion_texture=LESION_TEXTURES[i % len(LESION_TEXTURES)],
            noise_hu=float(rng.uniform(10, 20)),
            return_mask=True,
        )
        patient = root / f"patient_{i:03d}"
        write_dicom(ct, patient / "ct", patient_id=f"PATIENT-{i:03d}", overwrite=overwrite)
        write_image(mask, patient / "lesions.nrrd")
        patients.append(patient)
    return patients


def _spawn(rng: np.random.Generator, n: int) -> list[np.random.Generator]:
    """``n`` independent Generators from ``rng``: its children (of an integer seed ``s``, those of
    ``SeedSequence(s)``); a RandomState's generator, which cannot spawn, seeds them with draws."""
    if rng.bit_generator.seed_seq is None:
        return [np.random.default_rng(int(s)) for s in rng.integers(2**63, size=n)]
    return rng.spawn(n)
