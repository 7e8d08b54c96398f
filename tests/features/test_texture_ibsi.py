"""The texture families wired into ``extract`` against the IBSI 1 reference values.

Until every texture family is in :data:`gpuimg.features.FAMILIES` (then ``ibsi_data.FAMILY_PREFIXES``
holds their prefixes and test_ibsi.py checks them with the rest), this checks the texture families
present: one test case per (IBSI case, tag), by the IBSI rule, every approach and aggregation the
case's reference file lists.
"""

import functools
import warnings

import pytest
from ibsi_data import CASES, FAMILY_PREFIXES, ibsi_agrees, phantom, reference_values

from gpuimg.features import FAMILIES, extract, ibsi_settings

#: Texture families by name in FAMILIES, with their IBSI tag prefix.
TEXTURE = {"glcm": "cm_", "glrlm": "rlm_", "glszm": "szm_", "gldzm": "dzm_", "ngtdm": "ngt_", "ngldm": "ngl_"}
#: The families wired in and not yet checked by test_ibsi.py.
WIRED = tuple(name for name, prefix in TEXTURE.items() if name in FAMILIES and prefix not in FAMILY_PREFIXES)
PREFIXES = tuple(TEXTURE[name] for name in WIRED)
PARAMS = [
    pytest.param(case, tag, id=f"{case}-{tag}")
    for case in CASES
    for tag in (reference_values(case, prefixes=PREFIXES) if PREFIXES else {})
]


@functools.cache
def features(case: str) -> dict[str, float]:
    image, mask = phantom(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no IBSI reference feature may be NaN with a warning
        return extract(image, mask, settings=ibsi_settings(case), families=WIRED)


@pytest.mark.skipif(not PARAMS, reason="no texture family left to check here, or no IBSI reference values")
@pytest.mark.parametrize(("case", "tag"), PARAMS or [("none", "none")])
def test_texture_feature_equals_ibsi_reference(case, tag):
    value, tolerance = reference_values(case, prefixes=PREFIXES)[tag]
    ours = features(case)[tag]
    assert ibsi_agrees(ours, value, tolerance), f"{tag}: ours {ours:.6g}, IBSI {value} +/- {tolerance}"
