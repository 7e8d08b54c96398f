"""gpuimg.contours.binary_mesh_measures and its table of configurations against scikit-image's
marching cubes, its mesh area and a plain signed-tetrahedra volume."""

import warnings

import numpy as np
import pytest
import skimage.measure

import gpuimg
from gpuimg.contours import _host, _mesh_cases, binary_mesh_measures

CONFIGURATIONS = ((np.arange(256)[:, None] >> np.arange(8)) & 1).astype(bool).reshape(256, 2, 2, 2)


def reference(mask, spacing):
    """Volume [mm³] and area [mm²] of scikit-image's level-0.5 mesh of the zero-padded mask: the area by
    scikit-image, the volume as the sum of the tetrahedra each face spans with the origin."""
    if not mask.any():
        return 0.0, 0.0
    padded = np.pad(mask.astype(np.float32), 1)
    vertices, faces, _, _ = skimage.measure.marching_cubes(padded, 0.5, spacing=spacing, method="lewiner")
    vertices = vertices.astype(np.float64)  # float32 where the spacing is 1 (scikit-image scales no other)
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    volume = abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0
    return volume, skimage.measure.mesh_surface_area(vertices, faces)


def assert_measures(mask, spacing):
    # Same mesh, summed in another order and from other origins (scikit-image's vertices are relative
    # to the padded box's corner, ours to its centre): a few ulps of the largest term.
    got = binary_mesh_measures(mask, spacing=spacing)
    np.testing.assert_allclose(got, reference(mask, spacing), rtol=1e-12, atol=1e-12)


def test_table_holds_scikit_images_triangles_for_every_configuration():
    for case, cube in enumerate(CONFIGURATIONS):
        ours = _mesh_cases.TRIANGLE_POINTS[_mesh_cases.TRIANGLE_CASES == case]
        if case in (0, 255):
            assert ours.size == 0
            continue
        vertices, faces, _, _ = skimage.measure.marching_cubes(cube.astype(np.float32), 0.5, method="lewiner")
        np.testing.assert_array_equal(ours, vertices[faces], err_msg=f"configuration {case}")


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.7, 1.3)])
def test_every_single_cube_configuration(spacing):
    for cube in CONFIGURATIONS:
        assert_measures(cube, spacing)


@pytest.mark.parametrize(
    "shape, density",
    [
        ((9, 10, 11), 0.1),
        ((9, 10, 11), 0.5),
        ((9, 10, 11), 0.9),
        ((1, 12, 13), 0.6),  # a sheet one voxel thick
        ((7, 1, 8), 0.6),
        ((6, 5, 1), 0.6),
        ((1, 1, 15), 0.7),  # a line
        ((20, 3, 17), 0.3),
    ],
)
def test_random_masks_equal_scikit_image(rng, shape, density):
    mask = rng.random(shape) < density
    spacing = tuple(rng.uniform(0.3, 3.0, 3))
    assert_measures(mask, spacing)


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 4, 5), (1, 6, 2)])
def test_full_boxes_touching_every_edge(shape):
    assert_measures(np.ones(shape, bool), (1.5, 0.8, 2.5))


def test_a_hollow_ball_subtracts_its_cavity(rng):
    z, y, x = np.mgrid[-9:10, -9:10, -9:10]
    r2 = x**2 + y**2 + z**2
    shell = (r2 <= 81) & (r2 > 25)
    assert_measures(shell, (1.0, 0.9, 1.1))
    ball = binary_mesh_measures(r2 <= 81)[0]
    cavity = binary_mesh_measures(r2 <= 25)[0]
    # The shell's surface is the two spheres' surfaces, disjoint: volumes subtract exactly (rounding).
    np.testing.assert_allclose(binary_mesh_measures(shell)[0], ball - cavity, rtol=1e-12)


def test_ball_volume_and_area_near_the_closed_form():
    spacing = (0.5, 0.5, 0.5)
    axis = np.arange(-30, 31) * 0.5
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    volume, area = binary_mesh_measures(x**2 + y**2 + z**2 <= 12.0**2, spacing=spacing)
    # Marching cubes cuts the voxel staircase at the edges' middles: within a few % of the sphere
    # (area overestimated by the facets' tilt).
    np.testing.assert_allclose(volume, 4 / 3 * np.pi * 12.0**3, rtol=0.02)
    np.testing.assert_allclose(area, 4 * np.pi * 12.0**2, rtol=0.1)


def test_integer_mask_volume_input_and_empty_mask(rng):
    labels = rng.integers(0, 3, (6, 7, 8)).astype(np.int16)
    spacing = (1.2, 0.6, 0.9)
    want = reference(labels != 0, spacing)
    np.testing.assert_allclose(binary_mesh_measures(labels, spacing=spacing), want, rtol=1e-12)
    volume = gpuimg.Volume(labels != 0, spacing)
    np.testing.assert_allclose(binary_mesh_measures(volume), want, rtol=1e-12)
    assert binary_mesh_measures(np.zeros((3, 4, 5), bool)) == (0.0, 0.0)
    assert binary_mesh_measures(np.zeros((0, 4, 5), bool)) == (0.0, 0.0)
    strided = (rng.random((10, 12, 14)) < 0.5)[::2, 1::3, ::-1]
    assert_measures(strided, spacing)


def test_a_volume_and_another_spacing_is_refused_not_one_of_them_dropped(rng):
    """binary_mesh_measures(volume, spacing=(9, 9, 9)) measured at 9 mm, the Volume's own spacing
    dropped without a word; the same spacing gives scikit-image's measures at the Volume's."""
    inside = rng.random((6, 7, 8)) < 0.5
    volume = gpuimg.Volume(inside, spacing=(1.2, 0.6, 0.9))
    with pytest.raises(gpuimg.ParameterError, match=r"^binary_mesh_measures got a Volume of spacing"):
        binary_mesh_measures(volume, spacing=(9, 9, 9))
    want = reference(inside, (1.2, 0.6, 0.9))
    np.testing.assert_allclose(binary_mesh_measures(volume, spacing=(1.2, 0.6, 0.9)), want, rtol=1e-12)


@pytest.mark.parametrize(
    "mask, spacing, message",
    [
        (np.ones((4, 5), bool), None, "3D boolean"),
        (np.ones((4, 5, 6), np.complex64), None, "dtype complex64"),
        (np.ones((4, 5, 6), bool), (1.0, -1.0, 1.0), "spacing"),
        (np.ones((4, 5, 6), bool), (1.0, 1.0), "spacing"),
    ],
)
def test_bad_input_raises_parameter_error(mask, spacing, message):
    with pytest.raises(gpuimg.ParameterError, match=message):
        binary_mesh_measures(mask, spacing=spacing)


def test_dask_input_is_computed(rng):
    da = pytest.importorskip("dask.array")
    mask = rng.random((9, 10, 11)) < 0.5
    lazy = da.from_array(mask, chunks=(4, 5, 11))
    np.testing.assert_allclose(binary_mesh_measures(lazy), reference(mask, (1.0, 1.0, 1.0)), rtol=1e-12)


def test_cuda_mask_takes_one_explicit_host_copy(rng, emulated_cuda, monkeypatch):
    monkeypatch.setattr(_host, "_WARNED", set())
    mask = rng.random((6, 7, 8)) < 0.5
    with pytest.warns(UserWarning, match="binary_mesh_measures has no GPU implementation"):
        got = binary_mesh_measures(emulated_cuda(mask), spacing=(2.0, 1.0, 0.5))
    np.testing.assert_allclose(got, reference(mask, (2.0, 1.0, 0.5)), rtol=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        binary_mesh_measures(emulated_cuda(mask))


def test_a_float_mask_is_read_by_the_mask_rule(rng):
    # A float32 label image (a segmentation tool's NIfTI, a resampled mask) was refused ('must be a 3D
    # boolean (or integer) array'), though gpuimg's features read it: its non-zero voxels are inside,
    # NaN voxels outside.
    values = rng.choice(np.array([0.0, 1.0, 0.5, 2.0, np.nan], np.float32), size=(6, 7, 8))
    inside = (values != 0) & ~np.isnan(values)
    spacing = (2.0, 0.7, 0.8)
    np.testing.assert_allclose(
        binary_mesh_measures(values, spacing=spacing), reference(inside, spacing), rtol=1e-12
    )


def test_the_integer_tables_are_the_mesh_cases_exactly():
    """cube_measures sums the configurations' terms in integers: 8 N_c and 8 C_c must be whole."""
    from gpuimg.contours.binary_mesh import _EIGHTHS

    normals, constants, direction_counts = _EIGHTHS
    np.testing.assert_array_equal(normals / 8.0, _mesh_cases.NORMALS)
    np.testing.assert_array_equal(constants / 8.0, _mesh_cases.CONSTANTS)
    np.testing.assert_array_equal(direction_counts, _mesh_cases.DIRECTION_COUNTS)
