"""gpuimg.errors: one base class, and the built-in exception each error resembles."""

import pytest

import gpuimg


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (gpuimg.ParameterError, ValueError),
        (gpuimg.DeviceError, RuntimeError),
        (gpuimg.GeometryError, ValueError),
        (gpuimg.DicomError, ValueError),
        (gpuimg.FeatureError, ValueError),
        (gpuimg.ConfigError, ValueError),
    ],
)
def test_every_error_is_a_gpuimg_error_and_its_builtin(error, builtin):
    with pytest.raises(gpuimg.GpuimgError):
        raise error("message")
    with pytest.raises(builtin):
        raise error("message")
