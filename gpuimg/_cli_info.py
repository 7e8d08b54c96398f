"""``gpuimg info``: the DICOM series of a folder (patients pseudonymised), or without a path the device
gpuimg would use and the libraries it found.
"""

import importlib.metadata
import os
import sys
from pathlib import Path

import gpuimg
from gpuimg._text import count
from gpuimg.backend import resolve_device
from gpuimg.errors import DicomError, GpuimgError
from gpuimg.io.image import IMAGE_SUFFIXES


def info(path: str | Path | None) -> None:
    """Print the series of a folder, or the device gpuimg would use and the libraries it found."""
    if path is not None:
        _series_table(Path(path))
        return
    print(f"gpuimg {gpuimg.__version__}, Python {sys.version.split()[0]}")
    try:
        print(f"device (auto): {resolve_device('auto')}")
    except GpuimgError as exc:
        print(f"device (auto): unavailable: {type(exc).__name__}: {exc}")
        print("  (the CPU works: unset GPUIMG_DEVICE or set it to cpu)")
    for package in (
        "numpy",
        "scipy",
        "scikit-image",
        "numba",
        "numba-cuda",
        "cupy-cuda13x",
        "cupy-cuda12x",
        "cucim-cu13",
        "cucim-cu12",
        "cuml-cu13",
        "cuml-cu12",
        "dask",
    ):
        try:
            print(f"  {package:<14} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue


def _is_dicomdir(path: Path) -> bool:
    """Whether ``path`` is a DICOMDIR: its meta header's Media Storage SOP Class is Media Storage
    Directory Storage (PS3.10 §8.6)."""
    import pydicom

    try:
        meta = pydicom.filereader.read_file_meta_info(path)
    except (OSError, pydicom.errors.InvalidDicomError, ValueError, KeyError):
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == "1.2.840.10008.1.3.10"


def _series_table(folder: Path) -> None:
    """One line per DICOM series under ``folder``: patient (pseudonym), modality, shape, spacing, problem.

    Raises
    ------
    DicomError
        If no DICOM image series is found under ``folder`` (its files are other formats, structure
        sets only, or unreadable), or ``folder`` is a NIfTI or NRRD file.
    """
    import secrets

    from gpuimg.cohort.privacy import patient_name, scrub

    found = gpuimg.list_series(folder)
    others = (
        f"{count(len(found.skipped), 'file')} without images (structure sets, reports, others), "
        f"{len(found.broken)} unreadable"
    )
    if found.unlisted:
        others += f", {count(len(found.unlisted), 'folder')} that may not be listed (permission denied)"
    if found.dangling:
        others += f", {count(len(found.dangling), 'link')} leading nowhere (no target, or a loop of links)"
    if not found and folder.name.lower().endswith(IMAGE_SUFFIXES):
        raise DicomError(
            f"{folder} is a NIfTI or NRRD image, not DICOM: gpuimg info lists the DICOM series of a "
            "folder. Read it with gpuimg.read_image, whose Volume gives its shape and spacing."
        )
    if not found and folder.is_file() and _is_dicomdir(folder):
        raise DicomError(
            f"{folder} is a DICOMDIR, the index of a DICOM medium, not a series: pass its folder, "
            f"{folder.parent}, which gpuimg info searches recursively for the series' files."
        )
    if not found:  # the listing of nothing looked like a success (status 0)
        raise DicomError(
            f"no DICOM image series under {folder}: {others}; pass the folder that holds the series' "
            "files (searched recursively)."
        )
    # A key of this call only: the same patient has the same pseudonym within this table.
    key = secrets.token_bytes(32)
    # The folder (a patient's, named by the ID) and the problems, which name files in it.
    secret = _identifying(found)
    print(f"{len(found)} series under {scrub(str(folder), secret)} (patients pseudonymised for this listing)")
    print(
        f"  {'patient':<20} {'modality':<8} {'slices':>6} {'shape (z, y, x)':<18} {'spacing [mm]':<22} "
        "problem"
    )
    for series in found:
        shape = "x".join(map(str, series.shape)) if series.shape else "-"
        spacing = ", ".join(f"{s:.3g}" for s in series.spacing) if series.spacing else "-"
        print(
            f"  {patient_name(key, series.patient_id.strip()):<20} {scrub(series.modality, secret):<8} "
            f"{series.n_slices:>6} {shape:<18} {spacing:<22} {scrub(series.problem or '', secret)}"
        )
    if found.skipped or found.broken or found.unlisted or found.dangling:
        print(f"  and {others}")
    for locked in found.unlisted:  # their series are missing from the table: say where, as problems do
        print(
            f"  cannot list {scrub(str(locked.relative_to(folder)) + os.sep, secret)}: permission denied, "
            "its files are not in this table; ask for read access to it"
        )
    for link, why in found.dangling.items():  # what they linked to is missing from the table, unseen
        print(
            f"  cannot follow {scrub(str(link.relative_to(folder)), secret)}: {why}, so what it linked to "
            "is not in this table; fix or remove the link"
        )


def _identifying(found) -> dict[str, str]:
    """Each identifying value of the series' headers (every file's patient ID, in the spellings of
    folder names; the name and its parts and the birth date of each series' first file) to
    ``<patient>``, ``[name]`` or ``[birth date]``: the paths in a problem, and the folder listed, may
    hold them (folders named by patient). Only the first file's ID was replaced, in the problems alone."""
    from gpuimg.cohort.privacy import file_name_spellings, id_spellings, identity_replacements, read_identity
    from gpuimg.io._tags import _as_text

    # Every file's ID: a series may mix patients (its problem then says so).
    ids = {_as_text(header.dataset.get("PatientID", "") or "") for s in found for header in s._headers}
    replacements = {text: "<patient>" for patient in ids for text in id_spellings(patient)}
    for series in found:
        try:  # the name and birth date: from the first file's full header
            replacements.update(identity_replacements(read_identity(series.files[0]), "<patient>"))
        except Exception:  # pydicom raises many types on a damaged file; its IDs are replaced above
            continue
    return replacements | file_name_spellings(replacements)
