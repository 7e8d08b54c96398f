"""Every feature of the five families against the IBSI 1 reference values.

One test case per (IBSI case, tag): the digital phantom and the CT phantom configurations A to E
(settings from ibsi_1_ct_phantom_configurations.csv, through ``ibsi_settings``), judged by the IBSI
rule (3 significant digits, then the published tolerance). The features of a case are computed once.
"""

import functools
import warnings

import pytest
from ibsi_data import CASES, ibsi_agrees, phantom, reference_values

from gpuimg.features import extract, ibsi_settings

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
    """No reference tag of the five families is missing from extract's result (none silently skipped)."""
    expected = set().union(*(reference_values(case) for case in CASES))
    if not expected:
        pytest.skip("the IBSI reference values are not present")
    assert expected <= set(features("digital_phantom"))
