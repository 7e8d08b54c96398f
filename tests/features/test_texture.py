"""The texture framework (gpuimg.features.texture): approaches, aggregations and bounded memory."""

import numpy as np
import pytest
from ibsi_data import ibsi_agrees, phantom, reference_values

import gpuimg.features.texture as texture
from gpuimg.errors import FeatureWarning
from gpuimg.features import Settings, glcm, glrlm, ibsi_settings, prepare


@pytest.mark.parametrize("case", ["digital_phantom", "A"])
def test_one_matrix_at_a_time_gives_ibsi_values(monkeypatch, case):
    """With no room for more than one slice's or one offset's matrices at a time, the directional
    families still give every IBSI value (the 2D, 2.5D and 3D sums and means across the batches)."""
    reference = reference_values(case, prefixes=("cm_", "rlm_"))
    if not reference:
        pytest.skip("the IBSI reference values are not present")
    monkeypatch.setattr(texture, "MATRIX_BUDGET", 1)
    image, mask = phantom(case)
    roi = prepare(image, mask, settings=ibsi_settings(case))
    ours = {**glcm(roi), **glrlm(roi)}
    wrong = {
        tag: ours[tag] for tag, (value, tol) in reference.items() if not ibsi_agrees(ours[tag], value, tol)
    }
    assert not wrong


def test_cuda_path_gives_ibsi_values(emulated_cuda):
    """GLCM and GLRLM of the digital phantom on the (real or emulated) CUDA device, every approach and
    aggregation: IBSI's values (kernels on the CUDA target, array glue through CuPy's API)."""
    reference = reference_values("digital_phantom", prefixes=("cm_", "rlm_"))
    if not reference:
        pytest.skip("the IBSI reference values are not present")
    image, mask = phantom("digital_phantom")
    roi = prepare(
        emulated_cuda(image.data),
        emulated_cuda(mask.data),
        spacing=image.spacing,
        settings=ibsi_settings("digital_phantom"),
    )
    ours = {**glcm(roi), **glrlm(roi)}
    wrong = {
        tag: ours[tag] for tag, (value, tol) in reference.items() if not ibsi_agrees(ours[tag], value, tol)
    }
    assert not wrong


def test_a_feature_undefined_on_one_slice_is_nan_with_a_warning():
    """A slice of one grey level has no GLCM correlation (variance 0): the 2D average is NaN, and
    says so; the 3D value, over both slices, is defined."""
    image = np.array([[[1.0, 1.0, 1.0]], [[1.0, 2.0, 3.0]]])
    settings = Settings(discretisation="fbs", bin_width=1.0, texture_approaches=("2d", "3d"))
    with pytest.warns(FeatureWarning, match="cm_corr_2D_avg"):
        features = glcm(prepare(image, np.ones(image.shape), spacing=1.0, settings=settings))
    assert np.isnan(features["cm_corr_2D_avg"]) and np.isfinite(features["cm_corr_3D_avg"])
    assert np.isfinite(features["cm_contrast_2D_avg"])
