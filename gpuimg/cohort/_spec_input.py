"""The checks of a pipeline spec's ``[input]`` and ``[mask]`` tables: which series of a study folder is
the image (:class:`Selection`), and where its region of interest comes from (:class:`MaskSource`)."""

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

from gpuimg.errors import ConfigError

from ._spec_values import _bool, _choice, _int, _known, _str

MASK_SOURCES = ("file", "rtstruct", "seg", "recipe")
_MODALITY_ALIASES = {"PET": "PT", "MRI": "MR"}


@dataclass(frozen=True)
class Selection:
    """Which series of a study folder to analyse."""

    modality: str | None = None
    description: str | None = None
    min_slices: int = 1
    allow_gaps: bool = False


@dataclass(frozen=True)
class MaskSource:
    """Where the region of interest comes from."""

    source: str
    roi: str | int | None = None
    pattern: str | None = None
    label: int = 0
    resample: bool = False
    threshold: tuple[float, float] | str | None = None
    opening_mm: float = 0.0
    fill_holes: bool = True
    largest: bool = True


def _selection(table: dict) -> Selection:
    _known("input", table, [f.name for f in dataclasses.fields(Selection)])
    modality = table.get("modality")
    if modality is not None:
        modality = _str("input.modality", modality).upper()
        modality = _MODALITY_ALIASES.get(modality, modality)
        if modality in ("SEG", "RTSTRUCT"):  # never chosen as the image: every study matched no series
            raise ConfigError(
                f"input.modality={table['modality']!r} is a mask, not the image series; set the image's "
                f'modality (CT, MR, PT, ...) and take the mask with mask.source = "{modality.lower()}".'
            )
    description = table.get("description")
    if description is not None:
        try:
            re.compile(_str("input.description", description))
        except re.error as exc:
            raise ConfigError(
                f"input.description={description!r} is not a regular expression: {exc}."
            ) from exc
    return Selection(
        modality=modality,
        description=description,
        min_slices=_int("input.min_slices", table.get("min_slices", 1), 1),
        allow_gaps=_bool("input.allow_gaps", table.get("allow_gaps", False)),
    )


def _mask(table: dict) -> MaskSource:
    _known("mask", table, [f.name for f in dataclasses.fields(MaskSource)])
    if "source" not in table:
        raise ConfigError(f'mask.source is missing; set it to one of {list(MASK_SOURCES)} (e.g. "rtstruct").')
    source = _choice("mask.source", table["source"], MASK_SOURCES)
    # A key of another source would be ignored without a word (roi = "GTV" with a mask file, a label
    # number with a SEG): it says the spec means something it does not do.
    other = sorted(set(table) - {"source", *_MASK_KEYS[source]})
    if other:
        raise ConfigError(
            f"mask: {', '.join(f'mask.{key}' for key in other)} {'does' if len(other) == 1 else 'do'} not "
            f"apply to mask.source = {source!r}, which takes "
            f"{list(_MASK_KEYS[source])}; remove them, or set mask.source to the source they belong to "
            f"({', '.join(f'{key}: {_owner(key)}' for key in other)})."
        )
    needs = {"file": "pattern", "recipe": "threshold"}.get(source)
    if needs and needs not in table:
        example = '"lesions.nrrd"' if needs == "pattern" else '[-100, 200] or "otsu"'
        raise ConfigError(f"mask.{needs} is needed for mask.source = {source!r}; e.g. {needs} = {example}.")
    threshold = table.get("threshold")
    if threshold is not None and threshold != "otsu":
        if (
            not isinstance(threshold, list)
            or len(threshold) != 2
            or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in threshold)
            or not threshold[0] <= threshold[1]  # NaN compares false: TOML's nan is no bound
        ):
            raise ConfigError(
                f"mask.threshold={threshold!r} must be [lower, upper] (lower <= upper; -inf or inf for no "
                'bound) or "otsu".'
            )
        threshold = (float(threshold[0]), float(threshold[1]))
    pattern = None if table.get("pattern") is None else _str("mask.pattern", table["pattern"])
    if pattern is not None and (
        Path(pattern).is_absolute() or ".." in Path(pattern).parts or not Path(pattern).parts
    ):
        # Path.glob refuses an absolute pattern (and "." with an IndexError), and one through ".." finds
        # the same file for every study.
        raise ConfigError(
            f'mask.pattern={pattern!r} must be a glob inside each study folder (e.g. "mask.nrrd" or '
            '"seg/*.nii.gz"), not a path out of it; put each study\'s mask in its own folder.'
        )
    opening = table.get("opening_mm", 0.0)
    if isinstance(opening, bool) or not isinstance(opening, int | float) or not 0 <= opening < math.inf:
        raise ConfigError(f"mask.opening_mm={opening!r} must be a finite radius in mm, 0 or more.")
    return MaskSource(
        source=source,
        roi=_roi(table.get("roi")),
        pattern=pattern,
        label=_int("mask.label", table.get("label", 0), 0),
        resample=_bool("mask.resample", table.get("resample", False)),
        threshold=threshold,
        opening_mm=float(opening),
        fill_holes=_bool("mask.fill_holes", table.get("fill_holes", True)),
        largest=_bool("mask.largest", table.get("largest", True)),
    )


def _roi(value) -> str | int | None:
    """mask.roi: a name (or pattern), or the ROINumber / SegmentNumber that tells apart ROIs of one name."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return value
    if not isinstance(value, str) or not value:
        raise ConfigError(
            f"mask.roi={value!r} must be the ROI's name (a non-empty string) or its number (a whole "
            "number: the ROINumber of an RTSTRUCT, the SegmentNumber of a SEG)."
        )
    return value


#: The keys of [mask] each source takes, besides ``source``.
_MASK_KEYS = {
    "file": ("pattern", "label", "resample"),
    "rtstruct": ("roi",),
    "seg": ("roi",),
    "recipe": ("threshold", "opening_mm", "fill_holes", "largest"),
}


def _owner(key: str) -> str:
    return " or ".join(repr(source) for source, keys in _MASK_KEYS.items() if key in keys)
