"""The IBSI benchmark data for the feature tests: phantoms, reference values and the IBSI rule."""

import csv
import functools
from pathlib import Path

import pytest

import gpuimg

IBSI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ibsi"
#: Tag prefixes of the families in gpuimg.features (the six texture families last); other rows of the
#: reference files are diagnostics (image and mask sizes at each step).
FAMILY_PREFIXES = ("morph_", "loc_", "stat_", "ih_", "ivh_", "cm_", "rlm_", "szm_", "dzm_", "ngt_", "ngl_")
#: Suffixes of the diagnostic rows (the image and masks after each step), which are not features.
DIAGNOSTIC_SUFFIXES = ("_init_img", "_interp_img", "_init_roi", "_interp_roi", "_reseg_roi")
#: The IBSI cases: the digital phantom and the CT phantom configurations.
CASES = ("digital_phantom", "A", "B", "C", "D", "E")


def reference_path(case: str) -> Path:
    name = (
        "ibsi_1_dig_phantom.csv" if case == "digital_phantom" else f"ibsi_1_chest_config_{case.lower()}.csv"
    )
    return IBSI / "reference_values" / name


def reference_values(
    case: str, *, diagnostics: bool = False, prefixes: tuple[str, ...] = FAMILY_PREFIXES
) -> dict[str, tuple[float, float]]:
    """``tag -> (value, tolerance)`` of the families (tags starting with ``prefixes``) for an IBSI case
    (rows with a value only), or of the diagnostic rows; empty when the shared data are absent."""
    path = reference_path(case)
    if not path.exists():
        return {}
    with path.open() as file:
        rows = list(csv.reader(file, delimiter=";"))
    return {
        tag: (float(value), float(tolerance))
        for value, tolerance, tag in (row for row in rows[1:] if len(row) == 3)
        if value and (tag.endswith(DIAGNOSTIC_SUFFIXES) if diagnostics else _is_feature(tag, prefixes))
    }


def _is_feature(tag: str, prefixes: tuple[str, ...]) -> bool:
    return tag.startswith(prefixes) and not tag.endswith(DIAGNOSTIC_SUFFIXES)


@functools.cache
def phantom(case: str):
    """The image and mask Volumes of an IBSI case; skips the test where the shared data are absent."""
    folder = IBSI / ("digital_phantom" if case == "digital_phantom" else "ct_phantom_CC-BY-NC") / "nifti"
    image, mask = folder / "image" / "phantom.nii.gz", folder / "mask" / "mask.nii.gz"
    if not (image.exists() and mask.exists()):
        pytest.skip(f"the IBSI phantom {folder} is not present")
    return gpuimg.read_image(image, device="cpu"), gpuimg.read_image(mask, device="cpu")


def ibsi_agrees(value: float, reference: float, tolerance: float) -> bool:
    """The IBSI rule: round ``value`` to 3 significant digits, then ``|value - reference| <= tolerance``.

    The tolerance gets 1e-9 of the reference's magnitude, as the CSV's decimal values are rounded too.
    """
    rounded = float(f"{value:.3g}")
    return abs(rounded - reference) <= tolerance + 1e-9 * max(abs(reference), 1.0)
