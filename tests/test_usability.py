"""A newcomer's first hour (issue 11): one rule for units, Volumes everywhere, the habits of SciPy,
scikit-image and scikit-learn, messages that say what to do, a README that works from a clone.

Each finding of the issue has a test here or in the module test it names."""

import dataclasses
import functools
import inspect
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from sklearn.exceptions import NotFittedError

import gpuimg
from gpuimg import contours, edges, features, ml, morphology, preprocess
from gpuimg.morphology import Labels

README = Path(__file__).parents[1] / "README.md"
SPACING = (2.5, 0.8, 0.6)
_RNG = np.random.default_rng(11)
IMAGE = ndi.gaussian_filter(_RNG.normal(0.0, 100.0, (10, 12, 14)), 1.0).astype(np.float32)
MASK = IMAGE > 0
REFERENCE = _RNG.normal(0.0, 50.0, (6, 7, 8)).astype(np.float32)
VOLUME = gpuimg.Volume(IMAGE, spacing=SPACING, origin=(1.0, -2.0, 3.0), meta={"modality": "CT"})
MASK_VOLUME = dataclasses.replace(VOLUME, data=MASK)

#: Each public function that takes an image, called on the image (a Volume or its voxels) and the
#: mask of the same kind.
CASES = {
    "preprocess.anisotropic_diffusion": lambda f, i, m: f(i, iterations=1),
    "preprocess.bilateral_filter": lambda f, i, m: f(i, 1.0, 50.0),
    "preprocess.clahe": lambda f, i, m: f(i),
    "preprocess.curvature_flow": lambda f, i, m: f(i, iterations=1),
    "preprocess.equalize_hist": lambda f, i, m: f(i, mask=m),
    "preprocess.gaussian_filter": lambda f, i, m: f(i, 1.5),
    "preprocess.laplacian_sharpen": lambda f, i, m: f(i),
    "preprocess.match_histogram": lambda f, i, m: f(i, REFERENCE),
    "preprocess.mean_filter": lambda f, i, m: f(i, 3),
    "preprocess.median_filter": lambda f, i, m: f(i, 3),
    "preprocess.rescale_intensity": lambda f, i, m: f(i),
    "preprocess.unsharp_mask": lambda f, i, m: f(i, 1.0),
    "preprocess.window": lambda f, i, m: f(i, 40.0, 400.0),
    "preprocess.zscore": lambda f, i, m: f(i, m),
    "edges.canny": lambda f, i, m: f(i, 1.0, 20.0, 60.0),
    "edges.gaussian_gradient_magnitude": lambda f, i, m: f(i, 1.0),
    "edges.gradient_magnitude": lambda f, i, m: f(i),
    "edges.laplace": lambda f, i, m: f(i),
    "edges.log": lambda f, i, m: f(i, 1.0),
    "edges.prewitt": lambda f, i, m: f(i, 0),
    "edges.scharr": lambda f, i, m: f(i, 1),
    "edges.sobel": lambda f, i, m: f(i, 2),
    "morphology.closing": lambda f, i, m: f(m, "ball", 1),
    "morphology.dilate": lambda f, i, m: f(m, "cube", 1),
    "morphology.distance_transform": lambda f, i, m: f(m),
    "morphology.erode": lambda f, i, m: f(m, "cross", 1),
    "morphology.fill_holes": lambda f, i, m: f(m),
    "morphology.opening": lambda f, i, m: f(m, "ball", 1),
    "morphology.remove_small_objects": lambda f, i, m: f(m, min_voxels=5),
    "ml.segment_kmeans": lambda f, i, m: f(i, 3, m),
    "ml.segment_som": lambda f, i, m: f(i, 3, m),
    "ml.dbscan_candidates": lambda f, i, m: f(m, eps=1.5, min_samples=4),
}

#: Public functions that take an image and return something other than an image: they accept a
#: Volume all the same, and give for it what they give for its voxels with its spacing.
NOT_IMAGES = {
    "edges.gradient_direction": lambda f, i, m: f(i),  # a vector per voxel
    "morphology.label": lambda f, i, m: f(m),  # Labels: its labels are a Volume
    "morphology.otsu_threshold": lambda f, i, m: f(i, mask=m),  # a number
    "morphology.multiotsu": lambda f, i, m: f(i, 3),  # numbers
    "contours.marching_cubes": lambda f, i, m: f(i, 0.0),  # a mesh [mm]
    "contours.binary_mesh_measures": lambda f, i, m: f(m),  # volume and area [mm³, mm²]
    "ml.voxel_features": lambda f, i, m: f(i, (1.0,)),  # a table
    "features.extract": lambda f, i, m: f(i, m, families=["statistics", "morphology"]),
    "features.extract_labels": lambda f, i, m: f(i, m, families=["statistics"]),
}

#: Public functions that take no image of their own, or only 2D ones (a Volume is 3D).
OTHERS = {
    "contours.find_contours",  # 2D
    "contours.hough_circle",  # 2D
    "contours.hough_circle_peaks",  # accumulators
    "contours.hough_circles",  # 2D
    "contours.hough_line",  # 2D
    "contours.hough_line_peaks",  # accumulators
    "contours.hough_lines",  # 2D
    "contours.mesh_surface_area",  # a mesh
    "contours.mesh_volume",  # a mesh
    "morphology.footprint",  # builds a footprint
    "preprocess.crop_to_mask",  # a Volume gets its new origin: tested below
    "preprocess.resample",  # a Volume gets its new grid: tests/preprocess/test_geometry.py
    "preprocess.resample_mask",
    "preprocess.ibsi_grid",  # shapes and spacings
    "features.prepare",  # a Roi: tests/features/test_chain.py
    "features.morphology",  # a family of a prepared Roi's arrays
    "features.discretise",
    "features.ibsi_settings",
    "features.intensity_histogram",
    "features.intensity_statistics",
    "features.intensity_volume_histogram",
    "features.local_intensity",
}


def _public_functions(module) -> set[str]:
    short = module.__name__.removeprefix("gpuimg.")
    return {
        f"{short}.{name}"
        for name in module.__all__
        if inspect.isfunction(getattr(module, name)) and not name[0].isupper()
    }


def test_every_public_image_function_is_checked_with_a_volume():
    """A new public function must join CASES (Volume in, Volume out) or say why not."""
    listed = set(CASES) | set(NOT_IMAGES) | OTHERS
    public = set().union(*(_public_functions(m) for m in (preprocess, edges, morphology, contours)))
    public |= {
        name for name in _public_functions(ml) if name.startswith(("ml.segment", "ml.dbscan", "ml.voxel"))
    }
    public |= {name for name in _public_functions(features) if name.split(".")[1] in dir(features.extract)}
    public |= {"features.extract", "features.extract_labels", "features.prepare", "features.morphology"}
    assert sorted(public - listed) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_volume_gives_a_volume_of_the_same_geometry(name):
    """The result for a Volume is a Volume with its geometry, holding what its voxels give with
    ``spacing=`` its spacing (the one thing a Volume adds)."""
    call = CASES[name]
    got = call(_function(name), VOLUME, MASK_VOLUME)
    assert isinstance(got, gpuimg.Volume), name
    assert (got.spacing, got.origin, got.meta) == (VOLUME.spacing, VOLUME.origin, VOLUME.meta)
    np.testing.assert_array_equal(got.direction, VOLUME.direction)
    want = _on_voxels(name, call)
    np.testing.assert_array_equal(got.data, want)


def _on_voxels(name, call):
    """The same call on the voxels, with ``spacing=`` the Volume's where the function takes one."""
    func = inspect.unwrap(_function(name))
    if "spacing" in inspect.signature(func).parameters:
        return call(functools.partial(func, spacing=SPACING), IMAGE, MASK)
    return call(func, IMAGE, MASK)


def _function(name):
    module, short = name.split(".")
    return getattr(globals()[module], short)


@pytest.mark.parametrize("name", sorted(NOT_IMAGES))
def test_a_volume_is_accepted_where_the_result_is_not_an_image(name):
    call = NOT_IMAGES[name]
    got = call(_function(name), VOLUME, MASK_VOLUME)
    want = _on_voxels(name, call)
    if isinstance(got, Labels):
        assert isinstance(got.labels, gpuimg.Volume) and got.labels.spacing == SPACING
        np.testing.assert_array_equal(got.labels.data, want.labels)
        assert got.count == want.count
        np.testing.assert_allclose(got.volumes_mm3, got.sizes * np.prod(SPACING))
    elif isinstance(got, dict):
        assert got == want
    elif isinstance(got, tuple):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    else:
        assert not isinstance(got, gpuimg.Volume)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "name", sorted(n for n in OTHERS if n.startswith("contours.hough") or "contours" in n)
)
def test_the_2d_functions_say_why_they_take_no_volume(name):
    func = _function(name)
    params = inspect.signature(func).parameters
    if "image" in params:
        assert "not a Volume" in func.__doc__, name


def test_crop_to_mask_of_a_volume_moves_its_origin():
    cropped = preprocess.crop_to_mask(VOLUME, MASK_VOLUME, 1)
    box = ndi.find_objects(MASK.astype(int))[0]
    start = np.array([max(s.start - 1, 0) for s in box])
    np.testing.assert_allclose(cropped.origin, VOLUME.affine[:3, :3] @ start + VOLUME.origin)


# The unit rule ---------------------------------------------------------------------------------

#: (function, plain name, the call's other arguments): the plain name is voxels whatever the input;
#: name + "_mm" is mm, divided by the spacing.
UNITS = [
    (preprocess.gaussian_filter, "sigma", {}),
    (preprocess.unsharp_mask, "sigma", {}),
    (preprocess.bilateral_filter, "sigma_spatial", {"sigma_range": 50.0}),
    (edges.canny, "sigma", {"low_threshold": 20.0, "high_threshold": 60.0}),
    (edges.gaussian_gradient_magnitude, "sigma", {}),
    (edges.log, "sigma", {}),
    (morphology.erode, "radius", {"footprint": "ball"}),
    (morphology.dilate, "radius", {"footprint": "cross"}),
    (morphology.opening, "radius", {"footprint": "cube"}),
    (morphology.closing, "radius", {"footprint": "ball"}),
]

#: Functions whose result is per mm where a spacing applies (a derivative), not only their mm names.
PER_MM = {edges.gaussian_gradient_magnitude, edges.log}


@pytest.mark.parametrize(("func", "name", "kwargs"), UNITS, ids=[f"{f.__name__}-{n}" for f, n, _ in UNITS])
def test_plain_names_are_voxels_and_mm_names_are_divided_by_the_spacing(func, name, kwargs):
    image = MASK_VOLUME if func.__module__.endswith("binary") else VOLUME
    plain = func(image, **{name: 2.0}, **kwargs)
    voxels_only = func(
        image.data, **{name: 2.0}, **kwargs, **({"spacing": SPACING} if func in PER_MM else {})
    )
    np.testing.assert_array_equal(plain.data, voxels_only)  # regression: canny & co. read sigma in mm
    in_mm = func(image, **{name + "_mm": 2.0}, **kwargs)
    per_axis = tuple(2.0 / s for s in SPACING)
    np.testing.assert_array_equal(in_mm.data, func(image, **{name: per_axis}, **kwargs).data)
    with pytest.raises(gpuimg.ParameterError, match=f"{name}_mm=2.0 needs the voxel spacing"):
        func(image.data, **{name + "_mm": 2.0}, **kwargs)
    with pytest.raises(
        gpuimg.ParameterError, match=f"give {name} \\(voxels\\) or {name}_mm \\(mm\\), not both"
    ):
        func(image, **{name: 1.0, name + "_mm": 2.0}, **kwargs)


def test_units_are_in_brackets_in_the_docstrings():
    for func, name, _ in UNITS:
        doc = func.__doc__
        assert re.search(rf"{name} : .*\[voxels\]", doc), func.__name__
        assert re.search(rf"{name}_mm : .*\[mm\]", doc), func.__name__


def test_no_public_parameter_in_mm_falls_back_to_voxels():
    """A parameter named ``*_mm`` is mm: none says "or voxels without spacing" any more."""
    for module in (preprocess, edges, morphology, contours, features, ml):
        for name in module.__all__:
            doc = getattr(module, name).__doc__ or ""
            assert "voxels without spacing" not in doc, f"{module.__name__}.{name}"
            assert "Default 1 mm" not in doc, f"{module.__name__}.{name}"


def test_extract_of_arrays_without_a_spacing_says_so():
    """Regression: extract(image.data, mask.data) used 1 mm voxels silently (morph_volume off by
    the voxel volume)."""
    with pytest.raises(gpuimg.FeatureError, match="pass spacing=\\(z, y, x\\) in mm, or Volumes"):
        features.extract(IMAGE, MASK, families=["statistics"])
    on_volumes = features.extract(VOLUME, MASK_VOLUME, families=["morphology"])
    on_arrays = features.extract(IMAGE, MASK, spacing=SPACING, families=["morphology"])
    assert on_volumes == on_arrays
    # The mesh volume of a box of voxels is within its voxel count times the voxel volume.
    assert on_volumes["morph_volume"] == pytest.approx(MASK.sum() * np.prod(SPACING), rel=0.2)


# Volumes ---------------------------------------------------------------------------------------


def test_to_numpy_of_a_volume_is_its_voxels():
    """Regression: a 0-d object array, which label and Otsu then refused with misleading messages."""
    got = gpuimg.to_numpy(VOLUME)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == VOLUME.shape
    np.testing.assert_array_equal(got, IMAGE)
    moved = gpuimg.to_device(VOLUME, "cpu")
    assert isinstance(moved, gpuimg.Volume) and moved.spacing == SPACING


def test_label_otsu_and_multiotsu_take_a_volume():
    labels, count = morphology.label(MASK_VOLUME)
    want, want_count = ndi.label(MASK, np.ones((3, 3, 3)))
    assert count == want_count and isinstance(labels, gpuimg.Volume)
    # The same components up to their numbering.
    assert len(set(zip(labels.data[MASK].tolist(), want[MASK].tolist(), strict=True))) == count
    from skimage.filters import threshold_multiotsu, threshold_otsu

    assert morphology.otsu_threshold(VOLUME) == pytest.approx(threshold_otsu(IMAGE.ravel()))
    np.testing.assert_allclose(morphology.multiotsu(VOLUME), threshold_multiotsu(IMAGE.ravel()), rtol=1e-6)


@pytest.mark.parametrize("writer", ["write_image", "write_dicom"])
def test_writers_take_an_array_with_its_geometry_or_say_how(writer, tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5)
    target = tmp_path / ("ct.nrrd" if writer == "write_image" else "ct")
    with pytest.raises(gpuimg.ParameterError, match=r"wrap it as gpuimg\.Volume\(array, spacing=\.\.\.\)"):
        getattr(gpuimg, writer)(data, target)
    getattr(gpuimg, writer)(data, target, spacing=(2.0, 0.5, 0.5), origin=(1.0, 2.0, 3.0))
    back = (
        gpuimg.read_image(target, device="cpu")
        if writer == "write_image"
        else gpuimg.read_dicom(target, device="cpu")
    )
    np.testing.assert_array_equal(back.data, data)
    np.testing.assert_allclose(back.spacing, (2.0, 0.5, 0.5))
    np.testing.assert_allclose(back.origin, (1.0, 2.0, 3.0), atol=1e-6)
    with pytest.raises(gpuimg.ParameterError, match="a Volume carries its own geometry"):
        getattr(gpuimg, writer)(
            back, tmp_path / ("again.nrrd" if writer == "write_image" else "again"), spacing=1.0
        )


def test_write_image_to_an_unknown_format_speaks_of_write_image(tmp_path):
    with pytest.raises(gpuimg.ParameterError) as caught:
        gpuimg.write_image(VOLUME, tmp_path / "ct.png")
    message = str(caught.value)
    assert "write_image writes NIfTI and NRRD" in message and "read_dicom" not in message


#: A mask (or label) Volume of VOLUME's shape, 2 slices off (the origin is an LPS point, x, y, z; the
#: slices run along z): the mask of another series of the patient, or a label file of another origin.
SHIFTED = dataclasses.replace(MASK_VOLUME, origin=(1.0, -2.0, 3.0 + 2 * SPACING[0]))

#: Each public function that takes a mask besides its image, called on VOLUME and a mask Volume, and
#: the error a mask Volume on another grid raises.
MASK_CALLS = {
    "contours.marching_cubes": (lambda f, m: f(VOLUME, 0.0, mask=m), gpuimg.GeometryError),
    "edges.canny": (lambda f, m: f(VOLUME, 1.0, 20.0, 60.0, mask=m), gpuimg.GeometryError),
    "features.extract": (lambda f, m: f(VOLUME, m, families=["statistics"]), gpuimg.FeatureError),
    "features.extract_labels": (
        lambda f, m: f(VOLUME, dataclasses.replace(m, data=m.data.astype(np.int16)), families=["statistics"]),
        gpuimg.FeatureError,
    ),
    "features.glcm_map": (lambda f, m: f(VOLUME, m, ["joint_max"]), gpuimg.FeatureError),
    "features.prepare": (lambda f, m: f(VOLUME, m), gpuimg.FeatureError),
    "ml.segment_kmeans": (lambda f, m: f(VOLUME, 2, m), gpuimg.GeometryError),
    "ml.segment_som": (lambda f, m: f(VOLUME, 2, m), gpuimg.GeometryError),
    "morphology.multiotsu": (lambda f, m: f(VOLUME, mask=m), gpuimg.GeometryError),
    "morphology.otsu_threshold": (lambda f, m: f(VOLUME, mask=m), gpuimg.GeometryError),
    "preprocess.crop_to_mask": (lambda f, m: f(VOLUME, m), gpuimg.GeometryError),
    "preprocess.equalize_hist": (lambda f, m: f(VOLUME, mask=m), gpuimg.GeometryError),
    "preprocess.zscore": (lambda f, m: f(VOLUME, m), gpuimg.GeometryError),
}


def _raises(doc: str) -> dict[str, str]:
    """The Raises section of a NumPy docstring (as inspect.getdoc gives it): each error's name to its
    description."""
    section = re.search(r"^Raises\n-+\n(.*?)(?=^\w[\w ]*\n-{3,}\n|\Z)", doc, re.S | re.M)
    entries = re.findall(r"^(\w+)\n((?: {4}.*\n?)+)", section.group(1) if section else "", re.M)
    return {name: " ".join(text.split()) for name, text in entries}


def test_every_function_taking_a_mask_beside_its_image_is_in_mask_calls():
    taking = {
        f"{module.__name__.split('.')[1]}.{name}"
        for module in (contours, edges, features, ml, morphology, preprocess)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name))
        and "mask" in list(inspect.signature(getattr(module, name)).parameters)[1:]
    }
    taking.remove("contours.find_contours")  # 2D only: it takes no Volume (its docstring says so)
    assert taking <= set(MASK_CALLS), sorted(taking - set(MASK_CALLS))


@pytest.mark.parametrize("name", sorted(MASK_CALLS))
def test_a_mask_volume_on_another_grid_raises_what_the_docstring_says(name):
    """Regression: otsu_threshold, multiotsu, canny, segment_kmeans and segment_som raised a
    GeometryError that their docstrings did not list (otsu's and segment_kmeans' had no Raises section),
    extract_labels had none either, and marching_cubes used the shifted mask without a word."""
    call, error = MASK_CALLS[name]
    func = _function(name)
    call(func, MASK_VOLUME)  # the same grid is taken
    with pytest.raises(error, match="the mask Volume lies on another voxel grid than the image: origin"):
        call(func, SHIFTED)
    raises = _raises(inspect.getdoc(func))
    assert error.__name__ in raises, f"{name}: Raises lists {sorted(raises)}, not {error.__name__}"
    assert "grid" in raises[error.__name__], f"{name}: {error.__name__}: {raises[error.__name__]}"


# Habits ----------------------------------------------------------------------------------------


def test_label_unpacks_like_scipy_and_keeps_sizes_and_boxes():
    result = morphology.label(MASK, spacing=SPACING)
    labels, count = result
    want, want_count = ndi.label(MASK, np.ones((3, 3, 3)))
    assert count == want_count
    np.testing.assert_array_equal(np.sort(result.sizes), np.sort(np.bincount(want.ravel())[1:]))
    assert len(result.bboxes) == count and labels is result.labels
    assert morphology.label(MASK).volumes_mm3 is None  # no spacing: no mm³


def test_extract_settings_are_keyword_only_and_may_be_a_dict_or_a_toml_file(tmp_path):
    """Regression: extract(img, msk, Settings()) bound the settings to spacing; a dict raised
    AttributeError."""
    settings = {"discretisation": "fbs", "bin_width": 25.0}
    with pytest.raises(TypeError, match="positional"):
        features.extract(VOLUME, MASK_VOLUME, features.Settings())
    want = features.extract(
        VOLUME, MASK_VOLUME, settings=features.Settings(**settings), families=["histogram"]
    )
    assert features.extract(VOLUME, MASK_VOLUME, settings=settings, families=["histogram"]) == want
    toml = tmp_path / "settings.toml"
    toml.write_text('[features]\ndiscretisation = "fbs"\nbin_width = 25.0\n')
    assert features.extract(VOLUME, MASK_VOLUME, settings=toml, families=["histogram"]) == want
    assert features.extract(VOLUME, MASK_VOLUME, settings=str(toml), families=["histogram"]) == want
    with pytest.raises(gpuimg.ConfigError, match="a Settings, a dict of its fields or the path"):
        features.extract(VOLUME, MASK_VOLUME, settings=3)


UNFITTED = [
    lambda: ml.make_estimator("random_forest"),
    lambda: ml.make_estimator("ridge", "regression"),
    lambda: ml.make_estimator("kmeans", "clustering"),
    lambda: ml.make_estimator("pca", "decomposition"),
    lambda: ml.SOM(),
    lambda: ml.CorrelationFilter(),
    lambda: ml.MutualInformationSelector(),
]


@pytest.mark.parametrize("make", UNFITTED)
def test_unfitted_estimators_raise_not_fitted_error(make):
    """Regression: AttributeError where scikit-learn raises NotFittedError."""
    estimator = make()
    method = "predict" if hasattr(type(estimator), "predict") else "transform"
    with pytest.raises(NotFittedError, match="is not fitted yet: call fit"):
        getattr(estimator, method)(np.ones((4, 3)))
    with pytest.raises(gpuimg.GpuimgError):
        getattr(estimator, method)(np.ones((4, 3)))


def test_an_unfitted_transformer_is_a_pipeline_step():
    """scikit-learn's Pipeline asks an unfitted step for transform; the check of availability
    raised AttributeError before fit."""
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 5)), np.repeat([0, 1], 20)
    pipeline = make_pipeline(
        ml.make_estimator("pca", "decomposition", n_components=2), ml.make_estimator("logistic_regression")
    )
    assert pipeline.fit(X, y).predict(X).shape == (40,)


def test_help_shows_short_signatures():
    """Regression: the ArrayLike union printed as hundreds of characters (about 300 a parameter,
    naming numpy._typing). The longest plain signature, write_dicom's 15 parameters, takes 417."""
    for module in (preprocess, edges, morphology, contours, features, ml, gpuimg):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isfunction(obj):
                signature = str(inspect.signature(obj))
                assert "numpy._typing" not in signature and len(signature) < 450, (name, signature)


def test_reprs_are_one_short_line():
    """Regression: repr(volume) printed its arrays."""
    big = gpuimg.Volume(np.zeros((40, 50, 60), np.int16), spacing=(2.5, 0.7, 0.7), meta={"modality": "CT"})
    roi = features.prepare(VOLUME, MASK_VOLUME)
    for obj in (big, morphology.label(big.data > -1), roi):
        text = repr(obj)
        assert "\n" not in text and len(text) < 160 and "array(" not in text, text
    assert repr(big) == (
        "Volume(shape=(40, 50, 60), dtype=int16, device='cpu', spacing=(2.5, 0.7, 0.7), "
        "origin=(0.0, 0.0, 0.0), modality='CT')"
    )


def test_write_cohort_again_needs_overwrite(tmp_path):
    """Regression: a second write_cohort refused the folder, and overwrite=True was a TypeError."""
    first = gpuimg.datasets.write_cohort(tmp_path, 1, seed=0, shape=(8, 16, 16))
    with pytest.raises(gpuimg.ParameterError, match=r"1 patient of an earlier write_cohort.*overwrite=True"):
        gpuimg.datasets.write_cohort(tmp_path, 1, seed=0, shape=(8, 16, 16))
    again = gpuimg.datasets.write_cohort(tmp_path, 1, seed=0, shape=(8, 16, 16), overwrite=True)
    assert again == first and len(list((tmp_path / "patient_000" / "ct").iterdir())) == 8


def test_one_file_is_counted_in_the_singular(tmp_path):
    (tmp_path / "notes.txt").write_text("not DICOM")
    with pytest.raises(gpuimg.DicomError) as caught:
        gpuimg.read_dicom(tmp_path)
    message = str(caught.value)
    assert "among 1 file (" in message and "(s)" not in message and "they are" not in message


# The README ------------------------------------------------------------------------------------


def test_readme_installs_from_the_checkout():
    """Regression: pip install gpuimg (not on the index) and a design document a clone lacks."""
    text = README.read_text(encoding="utf-8")
    assert "not on the package index" in text
    assert not re.search(r"pip install (\"|')?gpuimg", text)
    assert 'pip install -e ".[cuda13]"' in text and "DESIGN.md" not in text and "../shared" not in text


def test_device_error_hint_installs_from_the_checkout(monkeypatch):
    from gpuimg.backend import device

    monkeypatch.setattr(device, "_probe_cuda", lambda: "CuPy is not installed (test)")
    with pytest.raises(gpuimg.DeviceError) as caught:
        device.resolve_device("cuda")
    assert "pip install -e '.[cuda13]'" in str(caught.value) and "gpuimg[" not in str(caught.value)


def test_install_hints_install_from_the_checkout():
    """Regression: the messages for --workers without Dask and for Zarr without zarr, and two docstrings,
    said pip install 'gpuimg[dask]' (or gpuimg[test]), which the package index cannot give."""
    for folder in (Path(gpuimg.__file__).parent, Path(gpuimg.kernels.__file__).parent):
        for path in sorted(folder.rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"pip install ['\"`]*gpuimg\b", text), path


@pytest.mark.parametrize(
    ("missing", "call"),
    [
        ("dask.array", lambda path: gpuimg.io.open_zarr(path / "ct.zarr")),
        ("zarr", lambda path: gpuimg.io.open_zarr(path / "ct.zarr")),
        (
            "dask.array",
            lambda path: gpuimg.io.write_chunked(IMAGE, path / "ct.nii.gz", spacing=SPACING),
        ),
        ("zarr", lambda path: gpuimg.io.write_chunked(VOLUME, path / "ct.zarr")),
        ("dask.system", lambda path: __import__("gpuimg.cohort.run").cohort.run.check_workers(2)),
    ],
    ids=["open_zarr-dask", "open_zarr-zarr", "write_chunked-dask", "write_chunked-zarr", "workers-dask"],
)
def test_without_the_dask_extra_the_error_says_how_to_install_it(missing, call, tmp_path, monkeypatch):
    """Regression: open_zarr without Dask raised a bare ModuleNotFoundError ('No module named dask')."""
    monkeypatch.setitem(__import__("sys").modules, missing, None)  # import_module: ModuleNotFoundError
    with pytest.raises(gpuimg.GpuimgError, match=r"in the gpuimg checkout, pip install -e '\.\[dask\]'"):
        call(tmp_path)
