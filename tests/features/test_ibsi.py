"""Every feature of the eleven families (five whole-ROI, six texture) against the IBSI 1 reference values.

One test case per (IBSI case, tag): the digital phantom and the CT phantom configurations A to E
(settings from ibsi_1_ct_phantom_configurations.csv, through ``ibsi_settings``), judged by the IBSI
rule (3 significant digits, then the published tolerance). The features of a case are computed once.
"""

import functools
import warnings

import numpy as np
import pytest
from ibsi_data import CASES, ibsi_agrees, phantom, reference_values

from gpuimg.features import extract, ibsi_settings, prepare
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
