"""A cohort study's mask, from the source its spec names: an RTSTRUCT or SEG beside the series, a
mask file matching a pattern, or a recipe (threshold, opening, hole filling, largest component).
"""

import dataclasses
import functools
import os
import unicodedata
from fnmatch import fnmatchcase
from pathlib import Path, PurePath

import numpy as np

from gpuimg import morphology
from gpuimg._arrays import roi_voxels
from gpuimg._text import count, some
from gpuimg.backend import namespace, to_numpy
from gpuimg.errors import DicomError, FeatureError, GeometryError, ImageFileError
from gpuimg.io import read_image, read_rtstruct, read_seg
from gpuimg.io._header import _dcmread
from gpuimg.io._nifti import _partner
from gpuimg.io._tags import _as_text
from gpuimg.io._unchecked import unchecked_values
from gpuimg.io.image import IMAGE_SUFFIXES
from gpuimg.preprocess import resample_mask
from gpuimg.preprocess._grid import in_axis_order
from gpuimg.volume import Volume, _on_grid_of

from .spec import MaskSource


def study_mask(
    folder: Path, others: list[Path], image: Volume, processed: Volume, source: MaskSource
) -> Volume:
    """The study's mask on the image's grid: a uint8 Volume of 0 and 1, whatever its source.

    ``others`` are the study's files outside the chosen series (where its RTSTRUCT or SEG lies);
    ``processed`` is the image after the spec's preprocessing steps, which a recipe thresholds. A mask
    file on the image's voxels in another axis order is reordered onto the image's grid, one on another
    grid resampled onto it with ``mask.resample`` (:func:`_on_image_grid`).
    """
    if source.source in ("rtstruct", "seg"):
        kind = source.source.upper()
        # Structure sets and segmentations are among the files outside the chosen series.
        files = [p for p in sorted(others) if _modality(p) == kind]
        matching = [p for p in files if image.meta.get("series_uid") in _referenced_series(p)] or files
        if len(matching) != 1:
            raise DicomError(
                f"{len(matching)} {kind} files for the chosen series in {folder}; keep the one drawn on it."
            )
        if kind == "SEG":
            return read_seg(matching[0], image, source.roi)
        return read_rtstruct(matching[0], image, source.roi)
    if source.source == "file":
        matched = matching_files(folder, source.pattern)
        files = _images(matched)
        if len(files) != 1:
            # Files that are no image (notes, a detached NRRD's data) are named only where no image is.
            others = ""
            if matched and not files:
                others = f" (it matches {count(len(matched), 'file')} of other formats)"
            raise ImageFileError(
                f"{count(len(files), 'image')} (NIfTI or NRRD; the .hdr and .img of a NIfTI-1 pair are one) "
                f"match mask.pattern={source.pattern!r} in {folder}{others}; one is needed."
            )
        mask = read_image(files[0], device=image.device)
        inside = roi_voxels(mask.data) if source.label == 0 else mask.data == source.label
        if source.label == 0 and not bool(inside.any()):
            # The features' "the mask is empty ... give the mask of this image's ROI" named no file.
            raise FeatureError(
                f"{files[0].name}, the mask of mask.pattern={source.pattern!r}, is empty: every voxel is 0"
                f"{' or NaN' if mask.dtype.kind == 'f' else ''}. Export the study's ROI again, "
                "or leave the study out."
            )
        if source.label != 0 and not bool(inside.any()):
            # The features' "the mask is empty ... give the mask of this image's ROI" named no label.
            labels = np.unique(to_numpy(mask.data[roi_voxels(mask.data)]))
            raise FeatureError(
                f"mask.label={source.label}: no voxel of {files[0].name} has that label; "
                + (
                    f"its labels are {some(f'{v:g}' for v in labels.tolist())}"
                    if labels.size
                    else "it is empty"
                )
                + ". Set mask.label to the ROI's label (0 for every non-zero voxel)."
            )
        inside = _on_image_grid(mask, inside, image, files[0], source)
        return _on_grid_of(inside.view(np.uint8), image)
    return _recipe(processed, source)


def matching_files(folder: Path, pattern: str) -> list[Path]:
    """The files under ``folder`` that the glob ``pattern`` matches (as :meth:`Path.glob`: ``**`` is any
    number of folders), in name order, each name and the pattern compared in Unicode's NFC form.

    macOS writes accented names decomposed (NFD: ``"La\\u0308sion.nrrd"``) where a spec typed on any
    system holds them composed (NFC: ``"L\\u00e4sion.nrrd"``); ``ls`` shows both alike, and a glob of
    the one found no file of the other, so the study's mask was not found.
    """
    parts = _pattern_parts(pattern)
    if len(parts) == 1 and parts[0] != "**":
        # One level (the usual 'mask.nrrd'): the folder's names matched as listed, not a Path and its
        # relative_to made for each of the series' files (0.37 -> 0.05 ms for 33 files, 3.1 -> 0.3 for 302).
        try:
            names = os.listdir(folder)
        except OSError:  # as Path.glob: an unreadable folder holds no match
            return []
        if any(magic in parts[0] for magic in "*?["):
            names = [name for name in names if fnmatchcase(nfc(name), parts[0])]
        else:  # a name alone (fnmatchcase: equal), compared with each name as it is where it is ASCII (its
            # own NFC form): 26 -> 18 us for a demo study of 33 files
            names = [name for name in names if (name if name.isascii() else nfc(name)) == parts[0]]
        paths = [folder / name for name in names]  # each joined once (1.2 of a study's 25 us)
        return sorted(path for path in paths if path.is_file())
    # Every entry at the pattern's depths, as Path.glob walks (hidden names too, unreadable folders left
    # out), then the pattern matched on the NFC names, one part to one folder level.
    walk = "/".join(part if part == "**" else "*" for part in parts)
    return sorted(
        path
        for path in set(folder.glob(walk))
        if _matches([nfc(name) for name in path.relative_to(folder).parts], parts) and path.is_file()
    )


@functools.lru_cache(maxsize=64)
def _pattern_parts(pattern: str) -> tuple[str, ...]:
    """The NFC parts of a glob ``pattern``, one a folder level, worked out once for a cohort's studies
    (PurePath's parsing took 2 of a study's 26 us of matching)."""
    return tuple(nfc(part) for part in PurePath(pattern).parts)


def nfc(text: str) -> str:
    """``text`` (a name, a pattern, a description) in Unicode's NFC form, as discovery compares them."""
    return unicodedata.normalize("NFC", text)


def _matches(names: list[str], parts: tuple[str, ...]) -> bool:
    """Whether the path of ``names`` (its folders, then the file) matches the pattern's ``parts``."""
    if not parts:
        return not names
    if parts[0] == "**":
        return any(_matches(names[i:], parts[1:]) for i in range(len(names) + 1))
    return bool(names) and fnmatchcase(names[0], parts[0]) and _matches(names[1:], parts[1:])


def _images(files: list[Path]) -> list[Path]:
    """The images among ``files`` (in name order), one path each: files of :data:`IMAGE_SUFFIXES`
    (a detached NRRD's data file, notes beside the mask are none), the two files of a NIfTI-1 pair
    (``x.hdr`` and ``x.img``, or ``.hdr.gz`` and ``.img.gz``, of one stem and case), which
    :func:`read_image` reads as one image named by either, counted once by the first."""
    if len(files) == 1:  # the usual one match: itself where it is an image (its pair is one image)
        return list(files) if files[0].name.lower().endswith(IMAGE_SUFFIXES) else []
    images: dict[Path, Path] = {}
    for path in files:
        if path.name.lower().endswith(IMAGE_SUFFIXES):
            images.setdefault(_header_name(path), path)  # x.hdr sorts before x.img
    return list(images.values())


def _header_name(path: Path) -> Path:
    """The header file's path of the NIfTI-1 pair ``path`` belongs to, or ``path`` itself."""
    if not path.name.lower().endswith((".img", ".img.gz")):
        return path
    return _partner(path) or path


def _on_image_grid(mask: Volume, inside, image: Volume, path: Path, source: MaskSource):
    """``inside``, the ROI's voxels (bool) of the mask file ``path`` read as ``mask``, on the image's grid.

    A mask on the image's grid (:func:`_misfit`) as it is; one on the image's voxels in another order
    (axes permuted or reversed: a NIfTI of dcm2niix, whose rows run bottom-up; an NRRD saved in
    another orientation), which fits the image's grid as :func:`_misfit` allows once its axes are put
    in the image's order, reordered exactly; another grid resampled with ``mask.resample`` (IBSI: linear
    interpolation of the 0/1 mask, then ``>= 0.5``), else refused.
    """
    misfit = _misfit(mask, image)
    if misfit is None:
        return inside
    mask = dataclasses.replace(mask, data=inside)
    # Its voxels in the image's axis order, then the header's rounding as for a mask in that order: a
    # mask file of three-decimal spacings fits in the image's order and was refused in another.
    turned = in_axis_order(mask, image)
    if turned is not None and _misfit(turned, image) is None:
        return turned.data
    if not source.resample:
        raise GeometryError(
            f"the mask {path.name} does not fit its image: {misfit}. Export the mask on the image's grid, "
            "or set mask.resample = true to resample it onto the image's grid (IBSI: linear interpolation, "
            "partial volume >= 0.5)."
        )
    resampled = resample_mask(mask, reference=image).data
    if not bool(resampled.any()):
        raise FeatureError(
            f"{path.name}, the mask of mask.pattern={source.pattern!r}, has no voxel on the image's grid: "
            "resampling it there (mask.resample = true: linear interpolation, partial volume >= 0.5) left "
            "none. Check that it is this image's mask; its ROI lies outside the image, or is thinner than "
            "half an image voxel."
        )
    return resampled


def _misfit(mask: Volume, image: Volume) -> str | None:
    """None where a mask file lies on its image's grid, else how it differs (shapes, spacings, origins,
    the axes that point elsewhere). Its header may round the image's geometry: spacings to 1e-3 mm and
    origins to 1e-2 mm (three and two decimals, as tools write them) but to at most 1% of a spacing and
    a tenth of the smallest voxel (micro-CT's 10 um voxels), direction cosines to 1e-4; and 1e-5
    relative (float32 fields).
    """
    if (
        mask.shape == image.shape
        and mask.spacing == image.spacing
        and mask.origin == image.origin
        and mask.direction.tolist() == image.direction.tolist()
    ):
        return None  # the image's own grid, as a mask written from it has it: within every tolerance below
    spacing = image.spacing
    spacing_fits = _close(mask.spacing, spacing, [min(1e-3, 1e-2 * s) for s in spacing])
    origin_fits = _close(mask.origin, image.origin, [min(1e-2, 0.1 * min(spacing))] * 3)
    # The axes that point elsewhere: a mask differing in direction alone was refused with equal
    # shapes, spacings and origins shown.
    columns = mask.direction.T.tolist(), image.direction.T.tolist()
    axes = [a for a in range(3) if not _close(columns[0][a], columns[1][a], [1e-4] * 3)]
    if mask.shape == image.shape and spacing_fits and origin_fits and not axes:
        return None
    pairs = [_rounded(mask.direction[:, a], image.direction[:, a], 3, alike=False) for a in axes]
    shown = "".join(
        f"; its {'zyx'[a]} axis points along {mine}, the image's along {theirs} (LPS)"
        for a, (mine, theirs) in zip(axes, pairs, strict=True)
    )
    spacings, origins = (
        _rounded(mask.spacing, image.spacing, 3, alike=spacing_fits),
        _rounded(mask.origin, image.origin, 2, alike=origin_fits),
    )
    return (
        f"shape {mask.shape} vs {image.shape}, spacing {spacings[0]} vs {spacings[1]} mm, origin "
        f"{origins[0]} vs {origins[1]} mm{shown}"
    )


def _close(mine, theirs, atol) -> bool:
    """Whether each of the numbers ``mine`` is within its ``atol`` of ``theirs``, and 1e-5 relative, as
    ``numpy.isclose`` has it (the same float64 arithmetic), on the 3 numbers of a Volume's geometry
    without NumPy's overhead for small arrays (0.07 of a demo study's 0.5 ms of reading its mask)."""
    return all(abs(a - b) <= t + 1e-5 * abs(b) for a, b, t in zip(mine, theirs, atol, strict=True))


def _rounded(mine, theirs, decimals: int, *, alike: bool) -> tuple[tuple, tuple]:
    """``mine`` and ``theirs`` rounded to ``decimals``, without negative zeros; where they differ
    (``alike`` False), to as many more decimals (up to 6) as tell them apart: a mask's origin half a
    micro-CT voxel off, or its axis turned by 1e-4, was shown equal to the image's."""
    for places in range(decimals, decimals + 1 if alike else 7):
        shown = [tuple(round(float(v), places) + 0.0 for v in values) for values in (mine, theirs)]
        if shown[0] != shown[1]:
            break
    return shown[0], shown[1]


@unchecked_values()
def _modality(path: Path) -> str | None:
    try:
        return _dcmread(path, stop_before_pixels=True, specific_tags=["Modality"]).get("Modality")
    except Exception:
        return None


@unchecked_values()
def _referenced_series(path: Path) -> set[str]:
    """The series UIDs an RTSTRUCT (referenced frame of reference) or a SEG (referenced series) names."""
    ds = _dcmread(path, stop_before_pixels=True)
    rtstruct = (
        series.SeriesInstanceUID
        for frame in ds.get("ReferencedFrameOfReferenceSequence", [])
        for study in frame.get("RTReferencedStudySequence", [])
        for series in study.get("RTReferencedSeriesSequence", [])
    )
    seg = (series.SeriesInstanceUID for series in ds.get("ReferencedSeriesSequence", []))
    return {_as_text(uid) for uid in (*rtstruct, *seg)}  # as the image's meta gives its series UID


def _recipe(image: Volume, source: MaskSource) -> Volume:
    """Threshold, opening, hole filling and the largest component, on the image's device."""
    if source.threshold == "otsu":
        mask = image.data > morphology.otsu_threshold(image.data)
    else:
        lower, upper = source.threshold
        mask = (image.data >= lower) & (image.data <= upper)
    # An empty mask failed in the features as 'give the mask of this image's region of interest',
    # which says nothing of the recipe that made it.
    if not bool(mask.any()):
        xp = namespace(image.data).xp
        low, high = (float(v) for v in xp.stack([xp.nanmin(image.data), xp.nanmax(image.data)]).tolist())
        raise FeatureError(
            f"mask.threshold={_shown(source.threshold)} selects no voxel: the image's values (after the "
            f"preprocessing steps) lie from {low:g} to {high:g}. Set the threshold within them."
        )
    mask = Volume(mask, image.spacing, image.origin, image.direction)
    if source.opening_mm > 0:
        mask = morphology.opening(mask, "ball", radius_mm=source.opening_mm)
        if not bool(mask.data.any()):
            raise FeatureError(
                f"mask.opening_mm={source.opening_mm:g} removes every voxel that "
                f"mask.threshold={_shown(source.threshold)} selects (no part of the ROI is that thick); "
                "use a smaller radius, or 0 for no opening."
            )
    if source.fill_holes:
        mask = morphology.fill_holes(mask)
    if source.largest:
        labels = morphology.label(mask.data)
        if labels.count:
            mask = Volume(
                labels.labels == int(np.argmax(labels.sizes)) + 1,
                image.spacing,
                image.origin,
                image.direction,
            )
    return Volume(mask.data.astype(np.uint8), image.spacing, image.origin, image.direction)


def _shown(threshold) -> str:
    """mask.threshold as the spec writes it: ``[-100, 200]`` or ``"otsu"``."""
    if threshold == "otsu":
        return '"otsu"'
    return "[" + ", ".join(f"{t:g}" for t in threshold) + "]"
