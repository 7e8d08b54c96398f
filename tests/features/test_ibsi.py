"""Every feature of the eleven families (five whole-ROI, six texture) against the IBSI 1 reference values.

One test case per (IBSI case, tag): the digital phantom and the CT phantom configurations A to E
(settings from ibsi_1_ct_phantom_configurations.csv, through ``ibsi_settings``), judged by the IBSI
rule (3 significant digits, then the published tolerance). The features of a case are computed once.
"""

import functools
import warnings

import numpy as np
import pytest
from ibsi_data import CASES, IBSI, ibsi_agrees, phantom, reference_values

from gpuimg.features import extract, ibsi_settings, prepare
from gpuimg.io import read_dicom, read_rtstruct
from gpuimg.preprocess import ibsi_grid

PARAMS = [pytest.param(case, tag, id=f"{case}-{tag}") for case in CASES for tag in reference_values(case)]


@functools.cache
def features(case: str) -> dict[str, float]:
    image, mask = phantom(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no IBSI reference feature may be NaN with a warning
        return extract(image, mask, settings=ibsi_settings(case))


@pytest.mark.skipif(not PARAMS, reason="the IBSI reference values (../shared/data/ibsi) are not present")
@pytest.mark.parametrize(("case", "tag"), PARAMS or [("none", "none")])
def test_feature_equals_ibsi_reference(case, tag):
    value, tolerance = reference_values(case)[tag]
    ours = features(case)[tag]
    assert ibsi_agrees(ours, value, tolerance), f"{tag}: ours {ours:.6g}, IBSI {value} +/- {tolerance}"


def test_every_family_tag_is_computed():
    """No reference tag of the eleven families is missing from extract's result (none silently skipped)."""
    expected = set().union(*(reference_values(case) for case in CASES))
    if not expected:
        pytest.skip("the IBSI reference values are not present")
    assert expected <= set(features("digital_phantom"))


#: The CT phantom as the IBSI gives it in DICOM: a CT series (int16 HU) and the RTSTRUCT of the ROI.
CT_DICOM = IBSI / "ct_phantom_CC-BY-NC" / "dicom"


@functools.cache
def dicom_phantom():
    """The CT phantom's image as read_dicom reads its series and its mask as read_rtstruct rasterises
    the ROI's contours on that grid; skips where the shared data are absent."""
    structures = CT_DICOM / "mask" / "DCM_RS_00060.dcm"
    if not structures.exists():
        pytest.skip(f"the IBSI CT phantom's DICOM files ({CT_DICOM}) are not present")
    image = read_dicom(CT_DICOM / "image", device="cpu")
    return image, read_rtstruct(structures, image)


@pytest.mark.parametrize("case", ["A", "B", "C", "D", "E"])
def test_ct_phantom_read_from_dicom_and_rtstruct_gives_the_ibsi_values(case):
    """The path of a clinical study: the series read as int16 HU (the NIfTI copy of the other tests is
    float32) and the ROI rasterised from its contours give every IBSI reference value of the case."""
    reference = reference_values(case)
    if not reference:
        pytest.skip("the IBSI reference values are not present")
    image, mask = dicom_phantom()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as features(): no reference feature may be NaN with a warning
        ours = extract(image, mask, settings=ibsi_settings(case))
    wrong = {
        tag: (ours[tag], value, tolerance)
        for tag, (value, tolerance) in reference.items()
        if not ibsi_agrees(ours[tag], value, tolerance)
    }
    assert not wrong, f"{len(wrong)} of {len(reference)} features differ (ours, IBSI, tolerance): {wrong}"


DIAGNOSTICS = {
    "morph_mask_vox_count_interp_roi": lambda roi: roi.morph_mask.sum(),
    "int_mask_vox_count_reseg_roi": lambda roi: roi.intensity_mask.sum(),
    "int_mask_mean_int_interp_roi": lambda roi: roi.image[roi.morph_mask].mean(),
    "int_mask_min_int_interp_roi": lambda roi: roi.image[roi.morph_mask].min(),
    "int_mask_max_int_interp_roi": lambda roi: roi.image[roi.morph_mask].max(),
    "int_mask_mean_int_reseg_roi": lambda roi: roi.values.mean(),
    **{
        f"{mask}_bb_dim_{axis}_{step}_roi": (
            lambda roi, k=k, name=name: np.ptp(np.argwhere(getattr(roi, name))[:, k]) + 1
        )
        for axis, k in (("x", 2), ("y", 1), ("z", 0))
        for mask, step, name in (
            ("int_mask", "interp", "morph_mask"),
            ("int_mask", "reseg", "intensity_mask"),
            ("morph_mask", "reseg", "morph_mask"),
        )
    },
    "morph_mask_vox_count_reseg_roi": lambda roi: roi.morph_mask.sum(),  # re-segmentation leaves it
    "int_mask_min_int_reseg_roi": lambda roi: roi.values.min(),
    "int_mask_max_int_reseg_roi": lambda roi: roi.values.max(),
}


@pytest.mark.parametrize("case", ["A", "B", "C", "D", "E"])
def test_processing_chain_equals_ibsi_diagnostics(case):
    """The ROI after interpolation and re-segmentation: voxel counts, intensities and extent as IBSI's."""
    reference = reference_values(case, diagnostics=True)
    if not reference:
        pytest.skip("the IBSI reference values are not present")
    image, mask = phantom(case)
    roi = prepare(image, mask, settings=ibsi_settings(case))
    for tag, measure in DIAGNOSTICS.items():
        if tag in reference:
            value, tolerance = reference[tag]
            assert ibsi_agrees(float(measure(roi)), value, tolerance), (tag, float(measure(roi)), value)


@pytest.mark.parametrize("case", ["A", "B", "C", "D", "E"])
def test_interpolation_grid_equals_ibsi_diagnostics(case):
    """The whole interpolated image's size and voxel spacing (x, y, z) as IBSI's: ceil(n s / s_new)
    voxels of the new spacing per axis, an axis kept (B's z, all of A's) as it was."""
    reference = reference_values(case, diagnostics=True)
    if not reference:
        pytest.skip("the IBSI reference values are not present")
    image, _ = phantom(case)
    new = ibsi_settings(case).new_spacing or (None, None, None)
    spacing = tuple(s if n is None else n for s, n in zip(image.spacing, new, strict=True))
    shape = ibsi_grid(image.shape, image.spacing, spacing)[0]
    for axis, k in (("x", 2), ("y", 1), ("z", 0)):
        for tag, ours in (
            (f"img_dim_{axis}_interp_img", shape[k]),
            (f"vox_dim_{axis}_interp_img", spacing[k]),
        ):
            value, tolerance = reference[tag]
            assert ibsi_agrees(float(ours), value, tolerance), (tag, ours, value)
