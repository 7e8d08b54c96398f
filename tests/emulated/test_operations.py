"""Every operation with a CUDA branch, run on the CUDA device (emulated without a GPU) on small inputs
and compared with the same operation on the CPU, whose tests compare it with SciPy / scikit-image.

The two runs compute with the same CPU libraries under the emulator, so the tolerances are tight;
on a real GPU the libraries differ (cupyx interpolates in float32), hence ``rtol=1e-4``.
"""

import numpy as np
import pytest

import gpuimg
from gpuimg import contours, edges, features, morphology, preprocess
from gpuimg.backend import to_numpy


def _volume(rng, shape=(8, 12, 14)):
    z, y, x = np.indices(shape)
    ball = ((z - 4) ** 2 + (y - 6) ** 2 + (x - 7) ** 2) < 12
    return (100.0 * ball + 5.0 * rng.standard_normal(shape)).astype(np.float32)


def _image(rng, shape=(20, 24)):
    y, x = np.indices(shape)
    disc = ((y - 10) ** 2 + (x - 12) ** 2) < 30
    return (100.0 * disc + 5.0 * rng.standard_normal(shape)).astype(np.float32)


def _mask(rng):
    return _volume(rng) > 50


OPERATIONS = {
    "gaussian_filter": (_volume, lambda a: preprocess.gaussian_filter(a, 1.0)),
    "mean_filter": (_volume, lambda a: preprocess.mean_filter(a, 3)),
    "median_filter": (_volume, lambda a: preprocess.median_filter(a, 3)),
    "bilateral_filter": (_volume, lambda a: preprocess.bilateral_filter(a, 1.0, 20.0)),
    "anisotropic_diffusion": (_volume, lambda a: preprocess.anisotropic_diffusion(a, iterations=2)),
    "curvature_flow": (_volume, lambda a: preprocess.curvature_flow(a, iterations=2)),
    "unsharp_mask": (_volume, lambda a: preprocess.unsharp_mask(a)),
    "laplacian_sharpen": (_volume, lambda a: preprocess.laplacian_sharpen(a)),
    "equalize_hist": (_volume, lambda a: preprocess.equalize_hist(a)),
    "clahe": (_image, lambda a: preprocess.clahe(a)),
    "rescale_intensity": (_volume, lambda a: preprocess.rescale_intensity(a)),
    "zscore": (_volume, lambda a: preprocess.zscore(a)),
    "zscore of subnormal values": (
        lambda rng: np.ldexp(rng.integers(0, 1000, (8, 12, 14)).astype(np.float32), -149),
        lambda a: preprocess.zscore(a),
    ),
    "window": (_volume, lambda a: preprocess.window(a, 40.0, 400.0)),
    "resample": (_volume, lambda a: preprocess.resample(a, (1.0, 1.0, 1.0), (1.5, 0.8, 1.0))),
    "sobel": (_volume, lambda a: edges.sobel(a)),
    "prewitt": (_volume, lambda a: edges.prewitt(a)),
    "scharr": (_volume, lambda a: edges.scharr(a)),
    "gradient_magnitude": (_volume, lambda a: edges.gradient_magnitude(a)),
    "gradient_direction": (_volume, lambda a: edges.gradient_direction(a)),
    "gaussian_gradient_magnitude": (_volume, lambda a: edges.gaussian_gradient_magnitude(a, 1.0)),
    "laplace": (_volume, lambda a: edges.laplace(a)),
    "log": (_volume, lambda a: edges.log(a, 1.0)),
    "canny_2d": (_image, lambda a: edges.canny(a, 1.0)),
    "canny_3d": (_volume, lambda a: edges.canny(a, 1.0)),
    "canny_quantiles": (_image, lambda a: edges.canny(a, 1.0, 0.5, 0.8, use_quantiles=True)),
    "canny_zero_crossing": (_volume, lambda a: edges.canny(a, 1.0, method="zero_crossing")),
    "erode": (_mask, lambda a: morphology.erode(a)),
    "dilate": (_mask, lambda a: morphology.dilate(a)),
    "opening": (_mask, lambda a: morphology.opening(a)),
    "closing": (_mask, lambda a: morphology.closing(a)),
    "fill_holes": (_mask, lambda a: morphology.fill_holes(a)),
    "distance_transform": (_mask, lambda a: morphology.distance_transform(a)),
    "remove_small_objects": (_mask, lambda a: morphology.remove_small_objects(a, min_voxels=5)),
    "label": (_mask, lambda a: morphology.label(a).labels),
    "otsu_threshold": (_volume, lambda a: morphology.otsu_threshold(a)),
    "multiotsu": (_volume, lambda a: list(morphology.multiotsu(a, 3))),
    # an integer image: its range is read from the device to size the search
    "multiotsu_int16": (
        lambda rng: _volume(rng).astype(np.int16),
        lambda a: list(morphology.multiotsu(a, 3)),
    ),
    "marching_cubes": (_volume, lambda a: contours.marching_cubes(a, 50.0)[0]),
    "find_contours": (_image, lambda a: contours.find_contours(a, 50.0)[0]),
    "hough_line": (lambda rng: _image(rng, (10, 12)) > 50, lambda a: contours.hough_line(a)[0]),
    "hough_circle": (lambda rng: _image(rng) > 50, lambda a: contours.hough_circle(a, [5, 6])),
    "morphology_features": (_volume, lambda a: features.morphology(a, a > 50, a > 50, (1.0, 1.0, 1.0))),
}


def _compare(cpu, gpu):
    if isinstance(cpu, dict):
        assert cpu.keys() == gpu.keys()
        for key in cpu:
            _compare(cpu[key], gpu[key])
    elif isinstance(cpu, (tuple, list)):
        assert len(cpu) == len(gpu)
        for a, b in zip(cpu, gpu, strict=True):
            _compare(a, b)
    elif isinstance(cpu, (float, int, np.number)):
        np.testing.assert_allclose(float(gpu), float(cpu), rtol=1e-4, atol=1e-6)
    else:
        assert gpuimg.backend.namespace(gpu).device == "cuda", type(gpu)
        np.testing.assert_allclose(to_numpy(gpu), to_numpy(cpu), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_cuda_path_equals_cpu(name, emulated_cuda, rng):
    make, operation = OPERATIONS[name]
    image = make(rng)
    _compare(operation(image), operation(emulated_cuda(image)))
