"""One study of a cohort: its series chosen, read, preprocessed, masked, edged and measured.

:func:`process_study` is what each Dask worker runs. It never raises for a bad study: the result holds
either the feature row or the error, with every identifying value of the input scrubbed out.
"""

import os
import re
import time
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from gpuimg import edges, morphology, preprocess
from gpuimg._text import count, some
from gpuimg.backend import to_numpy
from gpuimg.edges.gradient import OPERATORS
from gpuimg.errors import DicomError, GpuimgError
from gpuimg.features import extract
from gpuimg.io import list_series, read_dicom
from gpuimg.io.series import _localizers
from gpuimg.preprocess.equalize import integer_counts
from gpuimg.volume import Volume

from ._study_mask import nfc, study_mask
from .privacy import identity_replacements, patient_name, pseudonym, read_identity, scrub
from .spec import Selection, Spec

#: Stages of one study, in order; their times go to the manifest.
STAGES = ("read", "preprocess", "segment", "edges", "features")
_HISTOGRAM_BINS = 64


@dataclass(frozen=True)
class StudyTask:
    """A study folder to process: its path, its name relative to the input folder, and how."""

    path: Path
    name: str
    spec: Spec
    key: bytes
    device: str = "cpu"
    #: Whether to keep the study's preview for the report (its slice and histograms cost a pass over
    #: the volume; the report shows a few studies).
    preview: bool = True
    #: The study folder's fingerprint (:func:`gpuimg.cohort._fingerprint.fingerprint`) when the task was
    #: made, kept in its result: a re-run reuses the result only while the folder's files are the same.
    inputs: str = ""

    @cached_property  # a keyed hash, asked by the run and the study several times: worked out once a task
    def study_id(self) -> str:
        """The study's name in the outputs: a pseudonym of its folder, or the folder itself.

        The folder's name as it is on disk, not in NFC form as patient IDs are
        (:func:`~gpuimg.cohort.privacy.patient_name`): studies are never grouped or matched by it, and
        on Linux two folders whose names differ in their form only are two studies, which one name
        would merge (one result kept for both). A cohort copied through a file system that rewrites
        names (HFS+ writes them NFD) has its studies measured again, under new names."""
        return _text(self.name) if self.spec.keep_ids else pseudonym(self.key, "study", self.name)


def process_study(task: StudyTask) -> dict:
    """Run the per-study part of the pipeline on one study folder.

    Parameters
    ----------
    task : StudyTask

    Returns
    -------
    dict
        ``study``, ``patient`` (pseudonyms unless the spec keeps IDs), ``times`` (seconds per stage),
        ``inputs`` and ``device`` (the task's: a re-run reuses the result only for the same), and
        either ``row`` (the features, with ``study``, ``patient`` and ``modality``), ``clipped`` (the
        ROI touches the volume's edge, so the volume cuts it) and, where ``task.preview``, ``preview``
        (small arrays for the report); or ``error`` (the exception's type and message).
    """
    study = task.study_id
    replacements = {str(task.path): f"<study {study}>", task.name: study}
    result = {
        "study": study,
        "patient": None,
        "times": {},
        "inputs": task.inputs,
        "device": task.device,
    }
    # The stage running, for an error without a message (SciPy's MemoryError() for an opening's large
    # ball): its row read 'MemoryError: ' and said nothing more.
    where = {"stage": "read"}
    # Warnings (pydicom's header checks) may quote header values: they never reach a log.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        series = found = None
        try:
            start = time.perf_counter()
            # One thread: studies already run in parallel (Dask workers), and a pool per small series
            # costs more to start than its headers take to parse.
            found = list_series(task.path, workers=1)
            series, others = _select(found, task.path, task.spec.selection)
            result["times"]["read"] = time.perf_counter() - start  # finding the series is reading too
            # Spaces around an LO value are no part of it (DICOM PS3.5 6.2); pydicom keeps leading ones,
            # where the labels file's IDs lose theirs.
            patient = series.patient_id.strip() or task.name
            result["patient"] = _text(patient_name(task.key, patient, keep_ids=task.spec.keep_ids))
            row, clipped, preview = _measure(task, series, others, result["times"], where)
            result["row"] = {
                "study": study,
                "patient": result["patient"],
                "modality": series.modality,
                **row,
            }
            result["clipped"] = clipped
            if preview is not None:
                result["preview"] = preview
        except Exception as exc:  # a failing study is recorded, whatever failed
            # The name and birth date are read only now, to scrub them from the message: from the
            # chosen series, or, where none was chosen (its files may name the patient, as may the
            # descriptions of the series that did not match), from the study's first DICOM file. With
            # keep_ids too, which keeps the IDs only: names and birth dates never leave the input.
            replacements.update(_study_secrets(task, series, found, result["patient"]))
            if str(exc) and not isinstance(exc, GpuimgError | OSError | MemoryError):
                # A third-party library's text (pydicom's, NumPy's) can quote raw values, which a
                # damaged length runs over the patient's name, birth date and ID: its type alone.
                reason = (
                    f"(its text is left out: it may quote the files' values) in the {where['stage']} stage"
                )
            else:  # gpuimg's messages; the OS's reason and path, scrubbed below
                reason = _in_spec_words(str(exc)) or f"(no message) in the {where['stage']} stage"
            if not task.spec.keep_ids:
                # The series' and frames of reference's UIDs (read_dicom's 'Series 1.2.826...: ...'),
                # which the hospital's archive maps to the patient, as keyed hashes too.
                replacements.update(
                    {
                        uid: pseudonym(task.key, "uid", uid)
                        for uid in _UID.findall(reason)
                        if not _standard(uid)
                    }
                )
            result["error"] = _text(scrub(f"{type(exc).__name__}: {reason}", replacements))
    return result


#: The readers' hints in Python's words (a keyword argument to pass, files to pass as a list), and what a
#: cohort's user does instead: read_dicom's allow_gaps is [input] allow_gaps, read_rtstruct's roi and
#: read_seg's segment are [mask] roi, and the files of one volume are those left in the study folder.
_SPEC_HINTS = (
    (
        re.compile(r"\bpass allow_gaps=True\b", re.IGNORECASE),
        "set allow_gaps = true in the spec's [input] table",
    ),
    (re.compile(r"\bpass (?:roi|segment)= with\b", re.IGNORECASE), "set the spec's [mask] roi to"),
    # read_dicom's "pass (only) the files of one echo/stack/acquisition to read_dicom as a list of paths":
    # a study's series is found in its folder, which then holds only those files.
    (
        re.compile(
            r"\bpass (?:only )?the files of one ([\w -]+?) to read_dicom "
            r"(?:as a list of paths|\(a list of paths\))",
            re.IGNORECASE,
        ),
        r"keep the files of one \1 alone in the study folder, moving the others out of it",
    ),
)


def _described(pattern: str, description: str) -> bool:
    """Whether input.description's regular expression ``pattern`` finds a match in a series'
    ``description``, ignoring case, both in Unicode's NFC form: a description written decomposed
    (``"Thorax na\\u0308tiv"``, as macOS spells names) matches ``"nätiv"`` typed composed."""
    return re.search(nfc(pattern), nfc(description), re.IGNORECASE) is not None


def _in_spec_words(reason: str) -> str:
    """A failing study's ``reason`` with each of the readers' hints (:data:`_SPEC_HINTS`) naming the
    spec's key instead, capitalised as the hint was: ``Pass allow_gaps=True to read it anyway`` becomes
    ``Set allow_gaps = true in the spec's [input] table to read it anyway``."""
    for pattern, hint in _SPEC_HINTS:
        capital = hint[0].upper() + hint[1:]
        reason = pattern.sub(
            lambda found, h=hint, c=capital: found.expand(c if found[0][0] == "P" else h), reason
        )
    return reason


#: A DICOM UID in a message: five or more components of digits joined by dots, the first 0, 1 or 2.
_UID = re.compile(r"(?<![\w.])[0-2](?:\.\d+){4,}(?!\w|\.\d)")


def _standard(uid: str) -> bool:
    """Whether ``uid`` is one of the DICOM standard's own (a transfer syntax, a SOP class), which names
    no patient's data."""
    return uid.startswith("1.2.840.10008.")


def _text(name: str) -> str:
    """``name`` (a folder's, a message naming files) as text that UTF-8 can write.

    A name that is not UTF-8 on disk (Latin-1, from an old share or archive) holds Python's escapes
    of its bytes (lone surrogates), which no UTF-8 file (CSV, Parquet, JSON) takes: its bytes are
    written as ``ls -b`` shows them (``M\\xfcller``).
    """
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _measure(
    task: StudyTask, series, others: list[Path], times: dict, where: dict
) -> tuple[dict, bool, dict | None]:
    """The study's feature row, whether its ROI is clipped, and its preview; ``times`` gets the seconds
    of each stage, ``where["stage"]`` the stage running."""
    spec = task.spec

    def timed(stage, func):
        where["stage"] = stage
        start = time.perf_counter()
        value = func()
        times[stage] = times.get(stage, 0.0) + time.perf_counter() - start
        return value

    image = timed(
        "read",
        lambda: read_dicom(series, device=task.device, allow_gaps=spec.selection.allow_gaps),
    )
    processed = timed("preprocess", lambda: _preprocess(image, spec.steps))
    mask = timed("segment", lambda: study_mask(task.path, others, image, processed, spec.mask))
    gradient = timed("edges", lambda: _edges(processed, mask, spec.edges))
    row = timed(
        "features",
        lambda: extract(
            image if spec.feature_image == "original" else processed,
            # Its 0 and 1 as bool: a uint8 mask Volume is searched for a second label (a pass over the
            # volume) and its grid checked against the image's, on which study_mask made it (0.44 of a
            # demo study's 4.6 ms of features).
            mask.data.view(bool),
            settings=spec.settings,
            families=spec.families,
        ),
    )
    if gradient is not None:
        row.update(gradient[1])
    edge_image = None if gradient is None else gradient[0]
    where["stage"] = "report preview"
    preview = _preview(image, processed, mask, edge_image) if task.preview else None
    return row, _clipped(mask.data), preview


def _select(found, folder: Path, rules: Selection) -> tuple:
    """The one series the rules pick among those ``found`` in ``folder`` (:func:`list_series`), and the
    study's other files (masks among them)."""
    if found.unlisted:
        # Their files may be the series' own slices, or its mask: measuring the rest would measure
        # another volume than the study's, as a study's row.
        more = len(found.unlisted) - 1
        raise DicomError(
            f"the study's folder {found.unlisted[0].relative_to(folder)}{os.sep}"
            + (f" (and {count(more, 'other')})" if more else "")
            + " may not be listed (permission denied): its files were not read, so the study may lack "
            "slices of its series or its mask. Ask for read access to it, or remove it from the study folder."
        )
    if found.dangling:
        # Their targets may have been slices of the series, or its mask, as with the folders above.
        (link, why), more = next(iter(found.dangling.items())), len(found.dangling) - 1
        raise DicomError(
            f"the study's link {link.relative_to(folder)} leads nowhere ({why})"
            + (f" (and {count(more, 'other link')})" if more else "")
            + ": what it linked to was not read, so the study may lack slices of its series or its mask. "
            "Fix the link, or remove it from the study folder."
        )
    # A file that cannot be parsed belongs to no series; reading on would report a gap instead.
    broken = next(iter(found.broken.items()), None)
    if not found:
        example = "" if broken is None else f", e.g. {broken[0]} ({broken[1]})"
        raise DicomError(
            f"no DICOM image series in {folder} ({len(found.skipped)} other file(s), "
            f"{len(found.broken)} unreadable{example}); put the study's DICOM files there or remove the "
            "folder."
        )
    if broken is not None:
        path, why = broken
        raise DicomError(
            f"{len(found.broken)} file(s) of the study cannot be read as DICOM, e.g. {path} ({why}): "
            "truncated or corrupt. Export them again, or remove them from the study folder."
        )
    chosen = [
        s
        for s in found
        if s.modality.upper() != "SEG"  # a segmentation is a mask, never the image
        and not _localizers(s._headers)  # nor is a scout (a series of LOCALIZER images)
        and (rules.modality is None or s.modality.upper() == rules.modality)
        and (rules.description is None or _described(rules.description, s.description))
        and s.n_slices >= rules.min_slices
    ]
    patients = len({nfc(s.patient_id.strip()) for s in chosen})
    if len(chosen) != 1:
        seen = some(f"{s.modality} {s.description!r} ({count(s.n_slices, 'slice')})" for s in found)
        what = "no series matches" if not chosen else f"{len(chosen)} series match"
        holds, fix = f"it holds {seen}", "Adjust the rules in the spec."
        if patients > 1:
            # A folder above the studies (a site's, a batch's): no rule picks one series. Its series are
            # not listed: their descriptions may name patients whose names are not scrubbed.
            holds = f"they belong to {patients} patients"
            fix = (
                "--input holds one folder per study, and this one holds several: pass the folder that "
                "holds the study folders themselves, or give each study a folder of its own."
            )
        raise DicomError(
            f"{what} the [input] rules (modality={rules.modality}, description={rules.description!r}, "
            f"min_slices={rules.min_slices}) in {folder}; {holds}. {fix}"
        )
    # A SEG holds pixels, so list_series counts it as a series: its files are "others" too.
    others = [*found.skipped, *(path for s in found if s is not chosen[0] for path in s.files)]
    return chosen[0], others


def _study_secrets(task: StudyTask, series, found, patient: str | None) -> dict:
    """:func:`~gpuimg.cohort.privacy.identity_replacements` of the chosen ``series``, else of the
    first of a few files ``found`` in the study that holds a patient's identity; none if no file does."""
    candidates = [series.files[0]] if series is not None else []
    if series is None and found is not None:
        candidates = [*(s.files[0] for s in found), *found.skipped][:_IDENTITY_TRIES]
    for path in candidates:
        try:
            identity = read_identity(path)
        except Exception:  # not DICOM, or unreadable
            continue
        if not any(identity.values()):  # a DICOMDIR, say
            continue
        if task.spec.keep_ids:  # the ID stays in the message, as in the outputs
            return identity_replacements(identity, None)
        name = identity["PatientID"].strip() or task.name
        return identity_replacements(identity, patient or patient_name(task.key, name))
    return {}


#: Files of a study tried for the patient's identity when no series was chosen.
_IDENTITY_TRIES = 5


def _preprocess(image: Volume, steps) -> Volume:
    for name, params in steps:
        image = getattr(preprocess, name)(image, **params)
    return image


def _edges(image: Volume, mask: Volume, operator: str | None):
    """Gradient magnitude [units/mm], and its mean over the ROI and over the ROI's boundary voxels: those
    with a 6-neighbour outside the ROI (one voxel thick whatever the spacing; the volume's faces, past
    which nothing is known, are not a boundary). The operator's scale (32 for Sobel in 3D, 18 for
    Prewitt, 512 for Scharr: :func:`gpuimg.edges.gradient_magnitude`) is divided out, so that a ramp of
    10 HU/mm measures 10 whichever operator the spec names."""
    if operator is None:
        return None
    gradient = edges.gradient_magnitude(image.data.astype(np.float32), operator, spacing=image.spacing)
    side, centre = OPERATORS[operator]
    gradient /= 2.0 * (2.0 * side + centre) ** (gradient.ndim - 1)  # difference 2, each smoothing its sum
    inside = mask.data > 0
    boundary = inside & ~morphology.erode(inside, "cross", radius=1)
    values = {
        "edge_gradient_mean": float(gradient[inside].mean()),
        "edge_boundary_gradient_mean": float(gradient[boundary].mean()) if boundary.any() else float("nan"),
    }
    return gradient, values


def _clipped(mask) -> bool:
    """Whether the ROI touches a face of the volume, so that the volume cuts it (one read of the device)."""
    # Each axis's first and last planes as one strided view (one plane where the axis has one): three
    # reductions, not six and a stack (14 -> 8 us for a demo study).
    z, y, x = (max(n - 1, 1) for n in mask.shape)
    faces = (mask[::z], mask[:, ::y], mask[:, :, ::x])
    if isinstance(mask, np.ndarray):  # counted, without a reduction's set-up each: 10 -> 5 us
        return any(np.count_nonzero(face) for face in faces)
    return bool(faces[0].any() | faces[1].any() | faces[2].any())


def _preview(image: Volume, processed: Volume, mask: Volume, gradient) -> dict:
    """The ROI's largest axial slice (image, mask, gradient) and intensity histograms, on the host."""
    inside = to_numpy(mask.data).view(bool)  # 0 or 1 (uint8), as _mask makes it
    k = int(np.argmax([np.count_nonzero(plane) for plane in inside]))  # 6x faster than over both axes at once
    before = to_numpy(image.data)
    after = before if processed is image else to_numpy(processed.data)
    preview = {"image": before[k].astype(np.float32), "mask": inside[k].astype(np.uint8)}
    if gradient is not None:
        preview["edges"] = to_numpy(gradient)[k].astype(np.float32)
    histograms = {}  # by array: without preprocessing, "after" is "before"
    for name, values in (("before", before), ("after", after)):
        if id(values) not in histograms:
            histograms[id(values)] = _histogram(values)
        preview[f"hist_{name}"], preview[f"edges_{name}"] = histograms[id(values)]
    return preview


def _histogram(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Voxel counts in ``_HISTOGRAM_BINS`` bins from the 0.5th to the 99.5th percentile, and the bin edges.

    As ``np.percentile`` (linear) and ``np.histogram`` of the values as float32 give them. Integers of
    up to 16 bits (CT in HU) are counted once per value instead (:func:`integer_counts`): no sort, no
    pass per bin.
    """
    flat = values.ravel()
    if flat.dtype.kind not in "iu" or flat.dtype.itemsize > 2:
        flat = flat.astype(np.float32)
        low, high = np.percentile(flat, [0.5, 99.5])
        return np.histogram(flat, _HISTOGRAM_BINS, range=(low, max(high, low + 1e-6)))
    smallest, counts = integer_counts(values)
    present = np.flatnonzero(counts)
    counts, levels, ends = counts[present], present + smallest, np.cumsum(counts[present])
    # The values of ranks floor(r) and floor(r) + 1 in sorted order, blended as np.percentile does.
    ranks = np.array([0.5, 99.5]) / 100 * (flat.size - 1)
    below = np.floor(ranks).astype(np.int64)
    a = levels[np.searchsorted(ends, below, side="right")]
    b = levels[np.searchsorted(ends, np.minimum(below + 1, flat.size - 1), side="right")]
    t, step = ranks - below, (b - a).astype(np.float64)
    low, high = np.where(t >= 0.5, b - step * (1 - t), a + step * t)
    found, edges = np.histogram(levels, _HISTOGRAM_BINS, range=(low, max(high, low + 1e-6)), weights=counts)
    return found.astype(np.int64), edges
