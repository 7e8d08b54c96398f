"""gpuimg.Volume: geometry checks and the index-to-patient mapping."""

import dataclasses
import math
import re

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import gpuimg
from gpuimg.volume import AXIAL


def test_defaults_describe_an_axial_stack(rng):
    volume = gpuimg.Volume(rng.random((2, 3, 4)))
    assert volume.spacing == (1.0, 1.0, 1.0) and volume.origin == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(volume.direction, AXIAL)
    assert volume.shape == (2, 3, 4) and volume.device == "cpu" and volume.meta == {}


def test_affine_maps_indices_to_patient_positions(rng):
    direction = Rotation.random(random_state=rng).as_matrix()
    spacing = tuple(rng.uniform(0.2, 5.0, 3))
    origin = tuple(rng.uniform(-300, 300, 3))
    volume = gpuimg.Volume(rng.random((5, 6, 7)), spacing=spacing, origin=origin, direction=direction)
    index = np.array([4, 1, 3])
    # A step along array axis k moves spacing[k] mm along column k of the direction.
    expected = np.array(origin) + sum(index[k] * spacing[k] * direction[:, k] for k in range(3))
    np.testing.assert_allclose((volume.affine @ np.append(index, 1))[:3], expected, rtol=1e-12)


def test_geometry_computed_on_the_gpu_is_taken(rng, emulated_cuda):
    # A spacing, origin or direction held in CuPy arrays (computed on the GPU, as a registration's
    # rotation may be) is copied to the host explicitly, as every function's spacing= does.
    # Before: "spacing must be 3 finite numbers ...; got array([...])" and direction "got []".
    direction = Rotation.random(random_state=rng).as_matrix()
    spacing, origin = rng.uniform(0.2, 5.0, 3), rng.uniform(-300, 300, 3)
    volume = gpuimg.Volume(
        emulated_cuda(rng.random((5, 6, 7))),
        spacing=emulated_cuda(spacing),
        origin=emulated_cuda(origin),
        direction=emulated_cuda(direction),
    )
    index = np.array([4, 1, 3])
    expected = origin + sum(index[k] * spacing[k] * direction[:, k] for k in range(3))
    np.testing.assert_allclose((volume.affine @ np.append(index, 1))[:3], expected, rtol=1e-12)
    isotropic = gpuimg.Volume(volume.data, spacing=emulated_cuda(np.float64(0.7)))  # a 0-d array
    assert isotropic.spacing == (0.7, 0.7, 0.7)


def test_to_cpu_keeps_geometry_and_meta(rng):
    volume = gpuimg.Volume(rng.random((2, 2, 2)), spacing=(3, 1, 1), meta={"modality": "MR"})
    moved = volume.to("cpu")
    assert moved.spacing == volume.spacing and moved.meta == {"modality": "MR"}
    np.testing.assert_array_equal(moved.data, volume.data)


@pytest.mark.skipif(gpuimg.backend.cuda_available(), reason="a GPU is usable here")
def test_to_cuda_without_a_gpu_raises_device_error(rng):
    with pytest.raises(gpuimg.DeviceError, match=r"pip install -e '\.\[cuda13\]'"):
        gpuimg.Volume(rng.random((2, 2, 2))).to("cuda")


def test_numpy_sees_the_voxels_of_a_volume_on_the_cpu(rng):
    # Before, np.asarray(volume) was a 0-d object array and np.mean(volume) a TypeError.
    data = rng.random((3, 4, 5))
    volume = gpuimg.Volume(data, spacing=(2.0, 0.5, 0.5))
    assert np.asarray(volume) is data
    assert np.asarray(volume, dtype=np.float32).dtype == np.float32
    copied = np.array(volume)
    assert copied is not data
    np.testing.assert_array_equal(copied, data)
    assert np.ndim(volume) == 3 and np.shape(volume) == (3, 4, 5)
    assert np.mean(volume) == data.mean()
    with pytest.raises(ValueError, match="copy"):
        np.asarray(volume, dtype=np.float32, copy=False)
    da = pytest.importorskip("dask.array")
    np.testing.assert_array_equal(np.asarray(gpuimg.Volume(da.from_array(data, chunks=2))), data)


def test_numpy_does_not_copy_a_volume_off_the_gpu_implicitly(rng, emulated_cuda):
    volume = gpuimg.Volume(emulated_cuda(rng.random((3, 4, 5))))
    with pytest.raises(gpuimg.DeviceError, match=r"gpuimg\.to_numpy\(volume\)"):
        np.asarray(volume)
    np.testing.assert_array_equal(gpuimg.to_numpy(volume), gpuimg.to_numpy(volume.data))


@pytest.mark.gpu
def test_to_cuda_and_back(rng):
    volume = gpuimg.Volume(rng.random((3, 4, 5)), spacing=(2.0, 0.5, 0.5))
    on_gpu = volume.to("cuda")
    assert on_gpu.device == "cuda" and on_gpu.spacing == volume.spacing
    np.testing.assert_array_equal(gpuimg.to_numpy(on_gpu.data), volume.data)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"data": np.zeros((3, 3))},
            "must be a 3D array (z, y, x); got (3, 3). A 2D image is one slice: pass image[np.newaxis].",
        ),
        ({"data": [1, 2]}, "must be a 3D array (z, y, x); got list"),
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing must be positive in mm; got (1.0, 0.0, 1.0)"),
        ({"spacing": (1.0, 1.0)}, "spacing must be 3 finite numbers (or one, the same along each axis) (mm)"),
        ({"origin": (0.0, np.nan, 0.0)}, "origin must be 3 finite numbers (mm)"),
        ({"direction": np.diag([1.0, 2.0, 1.0])}, "orthonormal columns"),
        ({"direction": np.eye(2)}, "orthonormal columns"),
    ],
)
def test_bad_geometry_raises_geometry_error(rng, kwargs, message):
    arguments = {"data": rng.random((2, 2, 2))} | kwargs
    with pytest.raises(gpuimg.GeometryError) as caught:
        gpuimg.Volume(**arguments)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("geometry", "message"),
    [
        ({"spacing": "x"}, "spacing must be 3 finite numbers"),
        ({"origin": (1, 2, "a")}, "origin must be 3 finite numbers"),
        ({"direction": "x"}, "direction must be a 3x3 matrix"),
        ({"direction": [[1, 0, 0], [0, 1, 0], [0, 0, "a"]]}, "direction must be a 3x3 matrix"),
    ],
)
def test_geometry_that_is_not_numbers(geometry, message):
    with pytest.raises(gpuimg.GeometryError, match=message):
        gpuimg.Volume(np.zeros((2, 3, 4)), **geometry)


@pytest.mark.parametrize("meta", [None, [], "x"])
def test_meta_that_is_not_a_dict(meta):
    with pytest.raises(gpuimg.ParameterError, match="Volume meta must be a dict"):
        gpuimg.Volume(np.zeros((2, 3, 4)), meta=meta)


def test_write_dicom_modality_that_is_not_a_name(tmp_path):
    with pytest.raises(gpuimg.ParameterError, match="modality=3"):
        gpuimg.write_dicom(gpuimg.Volume(np.zeros((2, 3, 4), np.int16)), tmp_path / "series", modality=3)
    assert not (tmp_path / "series").exists()
    gpuimg.write_dicom(gpuimg.Volume(np.zeros((2, 3, 4), np.int16)), tmp_path / "series", modality="mr")
    assert gpuimg.read_dicom(tmp_path / "series", device="cpu").meta["modality"] == "MR"


@pytest.mark.parametrize(
    ("use", "expression", "advice", "builtin"),
    [
        (lambda v: v > -400, r"volume > -400", r"volume.data > -400", TypeError),
        (lambda v: 1000 + v, r"1000 \+ volume", r"1000 \+ volume.data", TypeError),
        (lambda v: -v, r"-volume", r"-volume.data", TypeError),
        (lambda v: v == 3, r"volume == 3", r"volume.data == 3", TypeError),
        (lambda v: v != np.int16(3), r"volume != np.int16\(3\)", r"volume.data != np.int16\(3\)", TypeError),
        (lambda v: v[0], r"volume\[0\]", r"volume.data\[...\]", TypeError),
        (lambda v: v.max(), r"a Volume has no .max", r"volume.data.max\(\)", AttributeError),
        (
            lambda v: v.astype(np.float32),
            r"a Volume has no .astype",
            r"volume.data.astype\(\)",
            AttributeError,
        ),
    ],
)
def test_a_volume_used_as_an_array_points_to_its_voxels(use, expression, advice, builtin):
    """ct > -400 was Python's bare "TypeError: '>' not supported between instances of 'Volume' and
    'int'", ct.max() "AttributeError: 'Volume' object has no attribute 'max'". The advice, applied,
    gives NumPy's result on the voxels."""
    voxels = np.arange(-1000, 1400, 100, dtype=np.int16).reshape(2, 3, 4)
    volume = gpuimg.Volume(voxels, spacing=(2.0, 1.0, 1.0))
    with pytest.raises(gpuimg.VolumeUsageError, match=rf"^{expression}: .*{advice}") as info:
        use(volume)
    assert isinstance(info.value, builtin)
    np.testing.assert_array_equal(volume.data > -400, voxels > -400)
    assert not hasattr(volume, "max") and not hasattr(volume, "no_such_name")  # AttributeError still


@pytest.mark.parametrize(
    ("use", "expression", "advice"),
    [
        (lambda v: np.int16(3) != v, r"np.int16\(3\) != volume", r"np.int16\(3\) != volume.data"),
        (lambda v: np.int16(3) == v, r"np.int16\(3\) == volume", r"np.int16\(3\) == volume.data"),
        (lambda v: np.float64(2) * v, r"np.float64\(2.0\) \* volume", r"np.float64\(2.0\) \* volume.data"),
        (lambda v: np.float32(-400) < v, r"np.float32\(-400.0\) < volume", r"< volume.data"),
        (lambda v: np.int64(1000) + v, r"np.int64\(1000\) \+ volume", r"np.int64\(1000\) \+ volume.data"),
        (lambda v: np.bool_(True) & v, r"np.True_ & volume", r"np.True_ & volume.data"),
        (lambda v: np.ones(4) + v, r"array\(\[1., 1., 1., 1.\]\) \+ volume", r"\) \+ volume.data"),
        (lambda v: np.ones(4) ** v, r"array\(\[1., 1., 1., 1.\]\) \*\* volume", r"\*\* volume.data"),
        (lambda v: np.zeros((2, 3, 4)) - v, r"ndarray - volume", r"ndarray - volume.data"),
        (lambda v: np.zeros((2, 3, 4)) == v, r"ndarray == volume", r"ndarray == volume.data"),
        (lambda v: np.ones((4, 4)) @ v, r"ndarray @ volume", r"ndarray @ volume.data"),
        (lambda v: np.sqrt(v), r"np.sqrt\(volume\)", r"np.sqrt\(volume.data\)"),
        (lambda v: np.add(v, 1), r"np.add\(volume, 1\)", r"np.add\(volume.data, 1\)"),
        (lambda v: np.maximum.reduce(v), r"np.maximum.reduce\(volume\)", r"np.maximum.reduce\(volume.data\)"),
    ],
)
def test_numpy_operand_on_the_left_is_refused_as_on_the_right(use, expression, advice):
    """volume == 3 and 3 + volume were refused, but np.int16(3) != volume, np.float64(2) * volume and
    np.ones(4) + volume went through NumPy, which took the voxels (geometry dropped) and gave an array,
    as did np.sqrt(volume). The advice, applied, gives NumPy's result on the voxels; np.asarray(volume)
    still gives them."""
    voxels = np.arange(-1000, 1400, 100, dtype=np.int16).reshape(2, 3, 4)
    volume = gpuimg.Volume(voxels, spacing=(2.0, 1.0, 1.0))
    with pytest.raises(gpuimg.VolumeUsageError, match=rf"^{expression}: .*{advice}") as info:
        use(volume)
    assert isinstance(info.value, TypeError)
    assert np.asarray(volume) is voxels
    assert np.mean(np.asarray(volume)) == np.mean(voxels.astype(np.float64))


def test_one_spacing_is_isotropic_as_for_every_function():
    """Volume(data, spacing=0.8) was a GeometryError, while every function's spacing= takes one number
    for all axes."""
    assert gpuimg.Volume(np.zeros((2, 3, 4)), spacing=0.8).spacing == (0.8, 0.8, 0.8)
    assert gpuimg.Volume(np.zeros((2, 3, 4)), spacing=np.float32(2.0)).spacing == (2.0, 2.0, 2.0)
    with pytest.raises(gpuimg.GeometryError, match=r"spacing must be positive in mm; got \(0.0, 0.0, 0.0\)"):
        gpuimg.Volume(np.zeros((2, 3, 4)), spacing=0)


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("spacing", True),
        ("spacing", np.bool_(True)),
        ("spacing", (2.5, True, 0.7)),
        ("spacing", np.ones(3, bool)),
        ("origin", (True, False, 0.0)),
        ("origin", np.zeros(3, bool)),
        ("origin", (0.0, np.bool_(True), -120.0)),
    ],
    ids=repr,
)
def test_a_bool_is_refused_for_a_spacing_or_an_origin_as_by_every_function(name, flag):
    """Volume(data, spacing=True) was read as 1 mm (origin=(True, False, 0) as (1, 0, 0) mm), while
    every function's spacing= refuses a bool; now the Volume refuses it too, in the same words."""
    data = np.zeros((4, 5, 6))
    if name == "spacing":  # the library's rule, the reference: gaussian_filter's and resample's spacing=
        for call in (
            lambda: gpuimg.preprocess.gaussian_filter(data, sigma_mm=1.0, spacing=flag),
            lambda: gpuimg.preprocess.resample(data, flag, 2.0),
        ):
            with pytest.raises(gpuimg.ParameterError, match=r"not a bool \(True would be read as 1\)"):
                call()
    with pytest.raises(gpuimg.GeometryError) as caught:
        gpuimg.Volume(data, **{name: flag})
    assert str(caught.value).startswith(f"Volume {name}=")
    assert "not a bool (True would be read as 1)" in str(caught.value)


def test_numbers_equal_to_a_bool_are_a_spacing_and_an_origin():
    volume = gpuimg.Volume(np.zeros((4, 5, 6)), spacing=np.ones(3, np.int64), origin=(1, np.int8(0), 0.0))
    assert volume.spacing == (1.0, 1.0, 1.0) and volume.origin == (1.0, 0.0, 0.0)


def test_volumes_and_other_objects_still_compare_by_identity():
    volume = gpuimg.Volume(np.zeros((2, 3, 4)), spacing=(2.0, 1.0, 1.0))
    same_voxels = gpuimg.Volume(volume.data, spacing=(2.0, 1.0, 1.0))
    assert volume == volume and volume != same_voxels and volume != None  # noqa: E711
    assert volume in [None, "ct", volume] and len({volume, volume, same_voxels}) == 2


def test_a_volume_and_another_spacing_is_refused_not_one_of_them_dropped():
    """gaussian_filter(volume, sigma_mm=2.0, spacing=(1, 1, 1)) took the argument over the Volume's own
    (2.5, 0.7, 0.7) mm without a word. The same spacing is accepted, and gives SciPy's result."""
    import scipy.ndimage as ndi

    from gpuimg.preprocess import gaussian_filter

    voxels = np.random.default_rng(3).normal(size=(6, 7, 8))
    volume = gpuimg.Volume(voxels, spacing=(2.5, 0.7, 0.7))
    with pytest.raises(
        gpuimg.ParameterError,
        match=r"got a Volume of spacing \(2.5, 0.7, 0.7\) mm and "
        r"spacing=\(1, 1, 1\): a Volume brings its own",
    ):
        gaussian_filter(volume, sigma_mm=2.0, spacing=(1, 1, 1))
    got = gaussian_filter(volume, sigma_mm=2.0, spacing=[2.5, 0.7, 0.7])
    expected = ndi.gaussian_filter(voxels, sigma=np.divide(2.0, (2.5, 0.7, 0.7)))
    np.testing.assert_allclose(got.data, expected, rtol=1e-12, atol=1e-12)  # float64 both, same taps


def test_the_image_may_be_given_by_its_own_name():
    """distance_transform(mask=...) was "TypeError: distance_transform() missing 1 required positional
    argument: 'image'": the Volume-taking wrapper named its first parameter image, whatever the
    function's own (mask, or marching_cubes' volume, as in scikit-image). By keyword, an array or a
    Volume gives SciPy's distances."""
    import scipy.ndimage as ndi

    from gpuimg.morphology import distance_transform

    inside = np.zeros((5, 6, 7), bool)
    inside[1:4, 1:5, 2:6] = True
    expected = ndi.distance_transform_edt(inside, sampling=(2.0, 1.0, 0.5))
    np.testing.assert_allclose(distance_transform(mask=inside, spacing=(2.0, 1.0, 0.5)), expected, rtol=1e-12)
    got = distance_transform(mask=gpuimg.Volume(inside, spacing=(2.0, 1.0, 0.5)))
    assert got.spacing == (2.0, 1.0, 0.5)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12)
    with pytest.raises(TypeError, match=r"distance_transform.*'mask'"):
        distance_transform(spacing=1.0)


#: Operations whose result is not in the input's units (HU, SUV ...): derivatives, edge maps, masks,
#: labels, distances. Each takes a PET-like image, or the mask above its mean.
NEW_UNITS = {
    "sobel": lambda pet, mask: gpuimg.edges.sobel(pet),
    "prewitt": lambda pet, mask: gpuimg.edges.prewitt(pet),
    "scharr": lambda pet, mask: gpuimg.edges.scharr(pet),
    "gradient_magnitude": lambda pet, mask: gpuimg.edges.gradient_magnitude(pet),
    "gaussian_gradient_magnitude": lambda pet, mask: gpuimg.edges.gaussian_gradient_magnitude(pet, 1.0),
    "log": lambda pet, mask: gpuimg.edges.log(pet, 1.0),
    "laplace": lambda pet, mask: gpuimg.edges.laplace(pet),
    "canny": lambda pet, mask: gpuimg.edges.canny(pet, 1.0),
    "distance_transform": lambda pet, mask: gpuimg.morphology.distance_transform(mask),
    "label": lambda pet, mask: gpuimg.morphology.label(mask).labels,
    "remove_small_objects": lambda pet, mask: gpuimg.morphology.remove_small_objects(mask, 2),
    "fill_holes": lambda pet, mask: gpuimg.morphology.fill_holes(mask),
    "segment_kmeans": lambda pet, mask: gpuimg.ml.segment_kmeans(pet, 2),
    "zscore": lambda pet, mask: gpuimg.preprocess.zscore(pet),
}
#: Operations whose result is in the input's units: filters, grey morphology.
SAME_UNITS = {
    "gaussian_filter": lambda pet: gpuimg.preprocess.gaussian_filter(pet, 1.0),
    "median_filter": lambda pet: gpuimg.preprocess.median_filter(pet, 3),
    "unsharp_mask": lambda pet: gpuimg.preprocess.unsharp_mask(pet),
    "grey erosion": lambda pet: gpuimg.morphology.erode(pet, "cube", 1),
}


def _pet(rng):
    meta = {"modality": "PT", "units": "GML", "windows": [{"center": 3.0, "width": 6.0, "name": "SUV"}]}
    return gpuimg.Volume(rng.random((6, 7, 8)) * 5.0, spacing=(2.0, 1.5, 1.5), meta=meta)


@pytest.mark.parametrize("name", NEW_UNITS)
def test_a_result_in_new_units_leaves_out_the_units_and_window_presets(rng, name):
    """A PET's Sobel or Canny map kept meta["units"] ("GML", SUVs in g/ml) and its window presets:
    write_dicom(units=volume.meta["units"]) labelled gradients as SUVs. The rest of the meta and the
    geometry stay; the input keeps its own."""
    pet = _pet(rng)
    mask = gpuimg.Volume(pet.data > pet.data.mean(), spacing=pet.spacing, meta=pet.meta)
    result = NEW_UNITS[name](pet, mask)
    assert isinstance(result, gpuimg.Volume) and result.spacing == pet.spacing
    assert result.meta == {"modality": "PT"}
    assert pet.meta["units"] == "GML" and len(pet.meta["windows"]) == 1


@pytest.mark.parametrize("name", SAME_UNITS)
def test_a_result_in_the_input_units_keeps_them(rng, name):
    pet = _pet(rng)
    assert SAME_UNITS[name](pet).meta == pet.meta


def test_the_direction_is_taken_where_numpy_allclose_finds_it_orthonormal(rng):
    """A direction is taken exactly where ``np.allclose(D.T @ D, I, atol=1e-4)`` holds (the reference):
    rotations perturbed around the tolerance (half taken, half refused), NaN and infinite entries; a
    refused one's message names it."""
    taken = refused = 0
    rotations = Rotation.random(300, random_state=int(rng.integers(2**31))).as_matrix()
    for rotation, scale in zip(rotations, np.geomspace(1e-6, 1e-3, 300), strict=True):
        direction = rotation + rng.normal(scale=scale, size=(3, 3))
        if rng.random() < 0.05:
            direction[tuple(rng.integers(3, size=2))] = rng.choice([np.nan, np.inf, -np.inf])
        with np.errstate(invalid="ignore"):  # an infinite entry's inf * 0 in D.T @ D, both ways
            expected = bool(np.allclose(direction.T @ direction, np.eye(3), atol=1e-4))
            if expected:
                np.testing.assert_array_equal(
                    gpuimg.Volume(np.zeros((1, 1, 1)), direction=direction).direction, direction
                )
                taken += 1
            else:
                with pytest.raises(gpuimg.GeometryError, match="orthonormal columns") as info:
                    gpuimg.Volume(np.zeros((1, 1, 1)), direction=direction)
                assert str(direction.tolist()) in str(info.value)
                refused += 1
    assert taken > 50 and refused > 50


@pytest.mark.parametrize(
    "direction",
    [
        np.eye(3)[[2, 0, 1]] * [[-1.0], [1.0], [-1.0]],  # a signed permutation
        np.diag([1.0, -0.0, 0.0]) + np.diag([0.0, 1.0, 1.0])[[0, 2, 1]],
        np.eye(3) * 1e200,  # squares overflowing in Python's sums too
        np.eye(3) * 1e-200,
        np.eye(3) * (1.0 + 5.5e-5),  # D.T @ D 1.1e-4 off the diagonal's 1: at NumPy's tolerance
        np.eye(3) * (1.0 + 4.4e-5),  # within 9e-5: taken without NumPy
        np.array([[1.0, 9.5e-5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),  # a cosine past 9e-5, within 1e-4
    ],
)
def test_a_direction_near_or_past_the_tolerance_is_judged_as_numpy_allclose_judges_it(direction):
    """Python's quick pass (within 9e-5) and NumPy's comparison give ``np.allclose``'s verdict."""
    with np.errstate(over="ignore", invalid="ignore"):
        expected = bool(np.allclose(direction.T @ direction, np.eye(3), atol=1e-4))
    if expected:
        np.testing.assert_array_equal(
            gpuimg.Volume(np.zeros((1, 1, 1)), direction=direction).direction, direction
        )
    else:
        with pytest.raises(gpuimg.GeometryError, match="orthonormal columns"), np.errstate(over="ignore"):
            gpuimg.Volume(np.zeros((1, 1, 1)), direction=direction)


@pytest.mark.parametrize(
    "value",
    [(1.0, 0.5, 2.5), (-0.0, 3.0, 0.25), (1e-300, 1e300, 5e-324), (np.float64(1.0), 2.0, 3.0), (1, 2.0, 3.0)],
)
@pytest.mark.parametrize("given_as", [tuple, np.array])
def test_a_spacing_and_origin_of_python_floats_are_taken_as_numpy_takes_them(value, given_as):
    """A tuple of floats (a Volume's own geometry, copied by dataclasses.replace), or a float64 array of 3
    (a reader's), is taken as plain NumPy takes any: ``float(np.float64(v) + 0.0)`` (no -0.0), Python
    floats, and a copy keeps them."""
    spacing = tuple(abs(v) or 1.0 for v in value)  # a spacing of 0 is refused
    volume = gpuimg.Volume(np.zeros((1, 1, 1)), spacing=given_as(spacing), origin=given_as(value))
    copy = dataclasses.replace(volume)
    for got, given in [
        (volume.spacing, spacing),
        (volume.origin, value),
        (copy.spacing, spacing),
        (copy.origin, value),
    ]:
        assert got == tuple(float(np.float64(v) + 0.0) for v in given)
        assert all(type(v) is float and math.copysign(1, v) == 1 for v in got)


@pytest.mark.parametrize("bad", [(np.inf, 1.0, 1.0), (1.0, np.nan, 1.0), (1.0, 1.0), (1.0, 1.0, 1.0, 1.0)])
def test_a_tuple_of_floats_that_is_no_geometry_is_refused_as_before(bad):
    """The refusals of non-finite numbers and of another count, for a tuple of floats as for a list."""
    for name in ("spacing", "origin"):
        with pytest.raises(
            gpuimg.GeometryError, match=rf"Volume {name} must be 3 finite numbers.*got {re.escape(repr(bad))}"
        ):
            gpuimg.Volume(np.zeros((1, 1, 1)), **{name: bad})
    with pytest.raises(gpuimg.GeometryError, match=r"spacing must be positive in mm; got \(1.0, -2.0, 1.0\)"):
        gpuimg.Volume(np.zeros((1, 1, 1)), spacing=(1.0, -2.0, 1.0))


@pytest.mark.parametrize("bad", [(np.inf, 1.0, 1.0), (1.0, np.nan, 1.0)])
def test_a_float64_array_that_is_no_geometry_is_refused_as_before(bad):
    """A float64 array of 3 (a reader's spacing and origin) that is not finite or positive is refused
    with the message of any other array, which shows it as given."""
    for name in ("spacing", "origin"):
        with pytest.raises(
            gpuimg.GeometryError,
            match=rf"Volume {name} must be 3 finite numbers.*got {re.escape(repr(np.array(bad)))}",
        ):
            gpuimg.Volume(np.zeros((1, 1, 1)), **{name: np.array(bad)})
    with pytest.raises(gpuimg.GeometryError, match=r"spacing must be positive in mm; got \(1.0, -2.0, 1.0\)"):
        gpuimg.Volume(np.zeros((1, 1, 1)), spacing=np.array([1.0, -2.0, 1.0]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, object])
def test_a_direction_array_is_copied_without_negative_zeros(dtype):
    """The direction is the Volume's own array (changing the one given changes nothing), of float64,
    a flipped axis's -0.0 taken as 0.0, whatever the array's dtype (float64 is taken without a
    conversion)."""
    given = np.array([[0.0, 0.0, 1.0], [-0.0, -1.0, 0.0], [1.0, -0.0, 0.0]]).astype(dtype)
    volume = gpuimg.Volume(np.zeros((1, 1, 1)), direction=given)
    given[0, 0] = 5
    assert volume.direction.dtype == np.float64
    assert volume.direction.tolist() == [[0.0, 0.0, 1.0], [0.0, -1.0, 0.0], [1.0, 0.0, 0.0]]
    assert not np.signbit(volume.direction[volume.direction == 0]).any()


def test_a_volume_on_the_grid_of_another_is_the_volume_of_its_geometry(rng):
    """_on_grid_of(data, like) is Volume(data, like.spacing, like.origin, like.direction): the same
    geometry (a direction of its own), no meta; data that are not 3D, or a direction changed in place
    so that it is no longer orthonormal, are refused with the Volume's own errors."""
    from gpuimg.volume import _on_grid_of

    direction = Rotation.random(random_state=int(rng.integers(2**31))).as_matrix()
    like = gpuimg.Volume(rng.random((3, 4, 5)), (2.5, 0.7, 0.8), (-1.5, 20.0, 3.25), direction, {"a": 1})
    data = rng.random((3, 4, 5)) > 0.5
    ours, theirs = _on_grid_of(data, like), gpuimg.Volume(data, like.spacing, like.origin, like.direction)
    assert ours.data is data and ours.meta == theirs.meta == {}
    assert (ours.spacing, ours.origin) == (theirs.spacing, theirs.origin)
    np.testing.assert_array_equal(ours.direction, theirs.direction)
    assert ours.direction is not like.direction and ours.direction.dtype == np.float64
    for bad in (data[0], [1, 2]):
        with pytest.raises(gpuimg.GeometryError) as expected:
            gpuimg.Volume(bad, like.spacing, like.origin, like.direction)
        with pytest.raises(gpuimg.GeometryError, match=re.escape(str(expected.value))):
            _on_grid_of(bad, like)
    like.direction[0, 0] += 0.1  # the array of a frozen Volume changed in place
    with pytest.raises(gpuimg.GeometryError, match="orthonormal columns"):
        _on_grid_of(data, like)
