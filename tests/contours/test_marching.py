"""gpuimg.contours.marching against scikit-image's measure module and closed forms."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
import skimage.measure
from dask_reads import counted

import gpuimg
from gpuimg.contours import _host, find_contours, marching_cubes, mesh_surface_area, mesh_volume

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def smooth_volume(rng, shape, sigma=2.0):
    """Gaussian-smoothed noise: many surfaces of every topology, including saddles."""
    return ndi.gaussian_filter(rng.normal(0.0, 1.0, shape), sigma).astype(np.float32)


def sphere_distance(radius, spacing, margin=4):
    """Distance [mm] from the centre of a grid of ``spacing`` that holds a sphere of ``radius`` mm."""
    axes = [
        (np.arange(int(2 * radius / s) + 2 * margin) - (int(2 * radius / s) + 2 * margin - 1) / 2) * s
        for s in spacing
    ]
    z, y, x = np.meshgrid(*axes, indexing="ij")
    return np.sqrt(z**2 + y**2 + x**2)


def assert_same_mesh(got, want, spacing=None):
    """Same vertices, faces, normals and values, exactly: both are scikit-image's Lewiner output. With
    an anisotropic ``spacing`` the normals are scikit-image's in voxel units made normals in mm:
    divided by the spacing, made unit again (float32 rounding, one unit in the last place at 1)."""
    got = [gpuimg.to_numpy(a) for a in got]
    assert len(got) == len(want) == 4
    for k in (0, 1, 3):
        np.testing.assert_array_equal(got[k], want[k])
    normals = want[2]
    if spacing is not None and len(set(spacing)) > 1:
        normals = normals / np.asarray(spacing)
        normals = normals / np.linalg.norm(normals, axis=1, keepdims=True)
        np.testing.assert_allclose(got[2], normals, rtol=0, atol=1.2e-7)
    else:
        np.testing.assert_array_equal(got[2], normals)
    assert got[2].dtype == np.float32


@pytest.mark.parametrize("direction", ["descent", "ascent"])
@pytest.mark.parametrize("step_size", [1, 2])
def test_marching_cubes_equals_scikit_image(rng, direction, step_size):
    volume = smooth_volume(rng, (20, 24, 22))
    level = float(rng.uniform(-0.05, 0.05))
    spacing = tuple(rng.uniform(0.4, 3.0, 3))
    got = marching_cubes(volume, level, spacing=spacing, gradient_direction=direction, step_size=step_size)
    want = skimage.measure.marching_cubes(
        volume, level, spacing=spacing, gradient_direction=direction, step_size=step_size, method="lewiner"
    )
    assert len(want[1]) > 100
    assert_same_mesh(got, want, spacing)


def test_marching_cubes_default_level_and_mask(rng):
    volume = smooth_volume(rng, (16, 18, 20))
    mask = np.zeros(volume.shape, bool)
    mask[2:12, 3:15, 1:19] = True
    assert_same_mesh(marching_cubes(volume, mask=mask), skimage.measure.marching_cubes(volume, mask=mask))
    # A mask read from a file may be float32 (or uint8): its non-zero voxels are inside.
    for dtype in (np.uint8, np.float32):
        assert_same_mesh(
            marching_cubes(volume, mask=mask.astype(dtype)), skimage.measure.marching_cubes(volume, mask=mask)
        )


def test_a_mask_volume_is_read_on_the_volumes_grid_or_refused(rng):
    """A mask Volume (a label file read with gpuimg.read_image) on the Volume's grid gives scikit-image's
    mesh of its voxels; on another grid it is a GeometryError (regression: a mask 2 slices off, or
    mirrored, was used as if it lay on the volume's grid, a mesh of another region without a word)."""
    data = smooth_volume(rng, (16, 18, 20))
    volume = gpuimg.Volume(data, spacing=(2.0, 0.7, 0.7), origin=(-10.0, 5.0, 30.0))
    inside = np.zeros(data.shape, np.uint8)
    inside[2:12, 3:15, 1:19] = 1
    want = skimage.measure.marching_cubes(
        data, 0.0, spacing=(2.0, 0.7, 0.7), mask=inside > 0, method="lewiner"
    )
    same = gpuimg.Volume(inside, spacing=volume.spacing, origin=volume.origin)
    assert_same_mesh(marching_cubes(volume, 0.0, mask=same), want, volume.spacing)
    assert_same_mesh(marching_cubes(data, 0.0, spacing=(2.0, 0.7, 0.7), mask=same), want, volume.spacing)
    shifted = gpuimg.Volume(inside, spacing=volume.spacing, origin=(-10.0, 5.0, 34.0))  # 2 slices up (LPS z)
    with pytest.raises(
        gpuimg.GeometryError, match=r"marching_cubes: .*origin \(-10.0, 5.0, 34.0\) mm, 4 mm from"
    ):
        marching_cubes(volume, 0.0, mask=shifted)
    mirrored = gpuimg.Volume(
        inside, spacing=volume.spacing, origin=volume.origin, direction=np.diag([1.0, -1.0, 1.0])
    )
    with pytest.raises(gpuimg.GeometryError, match="a flipped or rotated grid"):
        marching_cubes(volume, 0.0, mask=mirrored)


def test_read_only_and_memory_mapped_volumes_give_scikit_images_mesh(rng, tmp_path):
    # scikit-image's Cython refuses a read-only float32 buffer ("buffer source array is read-only");
    # a memory-mapped file or a Deferred read is one, and it is no reason to blame the level.
    volume = smooth_volume(rng, (12, 14, 16))
    want = skimage.measure.marching_cubes(volume, 0.0, method="lewiner")
    frozen = volume.copy()
    frozen.flags.writeable = False
    np.save(tmp_path / "v.npy", volume)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    for host in (frozen, mapped, volume.astype(">f4"), np.asfortranarray(volume)):
        assert_same_mesh(marching_cubes(host, 0.0), want)
    assert not frozen.flags.writeable  # the caller's array is left as it was


def test_volume_brings_its_spacing(rng):
    data = smooth_volume(rng, (12, 14, 16))
    volume = gpuimg.Volume(data, spacing=(2.5, 0.8, 0.6))
    got = marching_cubes(volume, 0.0)
    assert_same_mesh(got, skimage.measure.marching_cubes(data, 0.0, spacing=(2.5, 0.8, 0.6)), volume.spacing)


def test_a_volume_and_another_spacing_is_refused_not_one_of_them_dropped(rng):
    """marching_cubes(volume, spacing=(9, 9, 9)) made the mesh at 9 mm, the Volume's own (2.5, 0.8,
    0.6) mm dropped without a word, where every other function refuses it. The same spacing, and
    the volume given by scikit-image's keyword volume=, give scikit-image's mesh at the Volume's
    spacing."""
    data = smooth_volume(rng, (12, 14, 16))
    volume = gpuimg.Volume(data, spacing=(2.5, 0.8, 0.6))
    with pytest.raises(
        gpuimg.ParameterError,
        match=r"^marching_cubes got a Volume of spacing \(2.5, 0.8, 0.6\) mm and spacing=\(9, 9, 9\)",
    ):
        marching_cubes(volume, 0.0, spacing=(9, 9, 9))
    want = skimage.measure.marching_cubes(data, 0.0, spacing=(2.5, 0.8, 0.6), method="lewiner")
    assert_same_mesh(marching_cubes(volume, 0.0, spacing=[2.5, 0.8, 0.6]), want, volume.spacing)
    assert_same_mesh(marching_cubes(volume=volume, level=0.0), want, volume.spacing)


@pytest.mark.parametrize(
    "spacing, allow_degenerate, dtype",
    [
        (None, True, np.float32),
        ((1.0, 1.0, 1.0), True, np.float32),
        ((2.5, 0.8, 0.6), True, np.float64),  # scikit-image's float32 vertices times float64 spacing
        ((2.5, 0.8, 0.6), False, np.float32),
    ],
)
def test_vertices_dtype_is_the_documented_one(rng, spacing, allow_degenerate, dtype):
    volume = smooth_volume(rng, (8, 9, 10))
    got = marching_cubes(volume, 0.0, spacing=spacing, allow_degenerate=allow_degenerate)
    want = skimage.measure.marching_cubes(
        volume, 0.0, spacing=spacing or (1.0, 1.0, 1.0), allow_degenerate=allow_degenerate
    )
    assert got[0].dtype == want[0].dtype == dtype
    assert got[2].dtype == got[3].dtype == np.float32


def test_surface_area_equals_scikit_image_on_the_same_mesh(rng):
    vertices, faces, _, _ = skimage.measure.marching_cubes(smooth_volume(rng, (20, 20, 20)), 0.0)
    # Ours sums in float64 whatever the vertices' dtype: equal to rounding against scikit-image on
    # float64 vertices, and to float32 rounding (about 1e-7 relative) on its own float32 vertices.
    got = float(mesh_surface_area(vertices, faces))
    want64 = skimage.measure.mesh_surface_area(vertices.astype(np.float64), faces)
    np.testing.assert_allclose(got, want64, rtol=1e-12)
    np.testing.assert_allclose(got, skimage.measure.mesh_surface_area(vertices, faces), rtol=1e-5)


@pytest.fixture(scope="module")
def lung_ct():
    """The lung CT (int16 HU, 48 x 512 x 512, 5 mm slices of 0.57 mm pixels) and its spacing."""
    path = DATA / "pyradiomics" / "lung1_image.nrrd"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    volume = gpuimg.read_image(path)
    return np.asarray(volume.data), volume.spacing


@pytest.mark.parametrize("direction", ["descent", "ascent"])
def test_real_ct_lung_surface_equals_scikit_image(rng, lung_ct, direction):
    """The -500 HU surface (lung against soft tissue and the body against air) of a random
    16 x 64 x 64 crop of a real CT, with its anisotropic spacing: the same mesh as scikit-image's,
    and the same area."""
    data, spacing = lung_ct
    # Rows 160 on hold the body (air only above): nearly every crop crosses -500, and all but about
    # 1 in 300 with more than 100 triangles (one crossed it in a corner with 28); those are drawn again.
    for _ in range(100):
        z, y, x = rng.integers(0, 32), rng.integers(160, 448), rng.integers(0, 448)
        crop = data[z : z + 16, y : y + 64, x : x + 64]
        if crop.min() < -500 < crop.max():
            want = skimage.measure.marching_cubes(
                crop, -500.0, spacing=spacing, gradient_direction=direction, method="lewiner"
            )
            if len(want[1]) > 100:
                break
    else:
        pytest.fail("no crop of the CT crosses -500 HU with more than 100 triangles")
    got = marching_cubes(crop, -500.0, spacing=spacing, gradient_direction=direction)
    assert_same_mesh(got, want, spacing)
    # Both sum the same float64 cross products, possibly in another order: a few ulps of the total.
    np.testing.assert_allclose(
        float(mesh_surface_area(got[0], got[1])),
        skimage.measure.mesh_surface_area(want[0], want[1]),
        rtol=1e-12,
    )


@pytest.mark.parametrize("direction", ["descent", "ascent"])
def test_sphere_area_and_volume_match_the_closed_form(rng, direction):
    """A sphere of radius r on a fine anisotropic grid: area 4 pi r^2 and volume 4/3 pi r^3 within 1%
    (the inscribed triangles fall short of the sphere by about (edge / r)^2)."""
    radius = float(rng.uniform(15.0, 20.0))
    spacing = (1.5, 0.7, 0.9)
    distance = sphere_distance(radius, spacing)
    field = distance if direction == "ascent" else -distance
    level = radius if direction == "ascent" else -radius
    vertices, faces, _, _ = marching_cubes(field, level, spacing=spacing, gradient_direction=direction)
    np.testing.assert_allclose(float(mesh_surface_area(vertices, faces)), 4 * np.pi * radius**2, rtol=0.01)
    np.testing.assert_allclose(float(mesh_volume(vertices, faces)), 4 / 3 * np.pi * radius**3, rtol=0.01)


@pytest.mark.parametrize("direction", ["descent", "ascent"])
def test_normals_are_perpendicular_to_the_mesh_in_mm(direction):
    """A sphere of radius 20 mm in voxels of 3 x 0.5 x 1 mm: each vertex's normal is along the radius
    (the closed form; towards lower values, so inward for the distance, outward for its negative),
    and along the mesh's own normal there (its faces' cross products summed at the vertex).
    scikit-image's normals are those of the grid in voxel units: 28 degrees off the radius on
    average, 48 at most; in mm 0.9 on average and 4.1 at most (the gradient's central differences
    over 3 mm slices)."""
    radius, spacing = 20.0, (3.0, 0.5, 1.0)
    distance = sphere_distance(radius, spacing)
    sign = 1.0 if direction == "ascent" else -1.0
    vertices, faces, normals, _ = marching_cubes(
        sign * distance, sign * radius, spacing=spacing, gradient_direction=direction
    )
    centre = (np.array(distance.shape) - 1) / 2 * spacing
    outward = (vertices - centre) / np.linalg.norm(vertices - centre, axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip((normals * -sign * outward).sum(axis=1), -1.0, 1.0)))
    assert angle.mean() < 2.0 and angle.max() < 6.0, (angle.mean(), angle.max())
    corners = vertices[faces].astype(np.float64)
    cross = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    mesh_normals = np.zeros(vertices.shape)
    for k in range(3):
        np.add.at(mesh_normals, faces[:, k], cross)
    mesh_normals /= np.linalg.norm(mesh_normals, axis=1, keepdims=True)
    # Either winding: the faces' orientation is gradient_direction's, the normals' the data's.
    cosine = np.abs((normals * mesh_normals).sum(axis=1))
    assert np.degrees(np.arccos(np.clip(cosine, 0.0, 1.0))).mean() < 2.0


def test_mesh_volume_of_a_box_is_exact(rng):
    """A closed box of sides a, b, c made of 12 triangles, anywhere in space: volume abc, area 2(ab+bc+ca)."""
    a, b, c = rng.uniform(0.5, 5.0, 3)
    corners = np.array([[i * a, j * b, k * c] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    corners += rng.uniform(-100, 100, 3)
    # Outward-wound quads (corner index = 4i + 2j + k), split into two triangles each.
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))])
    np.testing.assert_allclose(float(mesh_volume(corners, faces)), a * b * c, rtol=1e-12)
    np.testing.assert_allclose(float(mesh_volume(corners, faces[:, ::-1])), a * b * c, rtol=1e-12)
    np.testing.assert_allclose(
        float(mesh_surface_area(corners, faces)), 2 * (a * b + b * c + c * a), rtol=1e-12
    )


def assert_same_contours(got, want):
    assert len(got) == len(want)
    for ours, theirs in zip(got, want, strict=True):
        np.testing.assert_array_equal(gpuimg.to_numpy(ours), theirs)


@pytest.mark.parametrize("fully_connected", ["low", "high"])
@pytest.mark.parametrize("positive_orientation", ["low", "high"])
def test_find_contours_equals_scikit_image(rng, fully_connected, positive_orientation):
    image = ndi.gaussian_filter(rng.normal(0.0, 1.0, (60, 70)), 3.0)
    level = float(rng.uniform(-0.02, 0.02))
    got = find_contours(image, level, fully_connected, positive_orientation)
    want = skimage.measure.find_contours(image, level, fully_connected, positive_orientation)
    assert len(want) > 3
    assert_same_contours(got, want)


def test_find_contours_default_level_and_mask(rng):
    image = ndi.gaussian_filter(rng.normal(0.0, 1.0, (40, 50)), 2.0)
    mask = rng.random(image.shape) > 0.1
    assert_same_contours(find_contours(image, mask=mask), skimage.measure.find_contours(image, mask=mask))


def test_find_contours_refuses_complex_and_masked_pixels_as_every_operation(rng):
    """A complex slice (an MRI reconstruction) went to scikit-image, which contours its real part with
    only NumPy's ComplexWarning; a masked array's masked pixels were contoured as any other. Both are
    refused, as marching_cubes and every other operation refuses them (gpuimg._arrays.as_image); a
    masked array without masked pixels gives scikit-image's contours of its data."""
    image = rng.random((12, 13))
    with pytest.raises(gpuimg.ParameterError, match=r"must hold real numbers; got dtype complex128; take"):
        find_contours(image * np.exp(1j * rng.uniform(0, np.pi, image.shape)), 0.3)
    hidden = np.zeros(image.shape, bool)
    hidden[4:7, 5:9] = True
    with pytest.raises(gpuimg.ParameterError, match=r"masked array with 12 masked voxel\(s\) of 156"):
        find_contours(np.ma.masked_array(image, mask=hidden), 0.5)
    assert_same_contours(
        find_contours(np.ma.masked_array(image), 0.5), skimage.measure.find_contours(image, 0.5)
    )


@pytest.mark.parametrize("level_hu", [-300.0, 100.0])
def test_find_contours_on_a_ct_slice(level_hu):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    dataset = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    hu = dataset.pixel_array * float(dataset.RescaleSlope) + float(dataset.RescaleIntercept)
    want = skimage.measure.find_contours(hu, level_hu)
    assert len(want) >= 3
    assert_same_contours(find_contours(hu, level_hu), want)


def test_level_outside_the_range_gives_no_contours_as_in_scikit_image(rng):
    image = rng.random((10, 12))
    assert find_contours(image, 2.0) == skimage.measure.find_contours(image, 2.0) == []


def test_circle_contour_matches_the_closed_form(rng):
    """The level-r contour of the distance to a point is a closed circle of radius r."""
    radius = float(rng.uniform(8.0, 20.0))
    centre = rng.uniform(25.0, 35.0, 2)
    rows, cols = np.mgrid[:60, :60]
    (contour,) = find_contours(np.hypot(rows - centre[0], cols - centre[1]), radius)
    np.testing.assert_array_equal(contour[0], contour[-1])
    # Linear interpolation of a distance field between pixels: within 0.02 pixel for r >= 8.
    np.testing.assert_allclose(np.hypot(*(contour - centre).T), radius, atol=0.02)


def test_faces_must_index_the_vertices(rng):
    """A face index past the vertices was NumPy's IndexError, and a negative one took a vertex from the
    end without a word (scikit-image's mesh_surface_area does too: a number for a mesh that is not
    one). The faces of the vertices still give scikit-image's area."""
    vertices, faces, _, _ = skimage.measure.marching_cubes(smooth_volume(rng, (8, 9, 10)), 0.0)
    wrapped = faces.copy()
    wrapped[0, 1] = -1  # the last vertex, counted from the end
    assert np.isfinite(skimage.measure.mesh_surface_area(vertices, wrapped))
    for bad, shown in ((wrapped, "from -1 to"), (faces + 1, f"to {len(vertices)}.")):
        for measure in (mesh_surface_area, mesh_volume):
            with pytest.raises(
                gpuimg.ParameterError, match=f"indices of the {len(vertices)} vertices"
            ) as caught:
                measure(vertices, bad)
            assert shown in str(caught.value)
    np.testing.assert_allclose(
        float(mesh_surface_area(vertices, faces)),
        skimage.measure.mesh_surface_area(vertices.astype(np.float64), faces),
        rtol=1e-12,
    )
    assert float(mesh_surface_area(vertices, faces[:0])) == 0.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda v: marching_cubes(v[0]), "must be 3D with at least 2 voxels"),
        (lambda v: marching_cubes(v[:1]), "must be 3D with at least 2 voxels"),
        (lambda v: marching_cubes(v, 10.0), "level=10.0 is outside"),
        (lambda v: marching_cubes(v, spacing=(1.0, -1.0, 1.0)), "must be one positive number"),
        (lambda v: marching_cubes(v, step_size=0), "step_size=0 must be"),
        (lambda v: marching_cubes(v, gradient_direction="up"), "gradient_direction='up' is unknown"),
        (
            lambda v: marching_cubes(v, mask=np.ones(v.shape, complex)),
            "(non-zero inside); got shape (4, 5, 6), dtype complex128",
        ),
        (
            lambda v: marching_cubes(v, mask=np.ones((2, 2, 2), bool)),
            "mask must be an array of the image's shape (4, 5, 6) (non-zero inside); got shape (2, 2, 2)",
        ),
        (lambda v: mesh_surface_area(v[0], np.zeros((2, 3), int)), "vertices must be (V, 3)"),
        (lambda v: mesh_volume(v[0, :, :3], np.zeros((2, 3))), "faces must hold integer"),
        (lambda v: find_contours(v), "must be 2D and at least 2 x 2"),
        (lambda v: find_contours(v[0], fully_connected="all"), "fully_connected='all' is unknown"),
        (lambda v: find_contours(v[0], positive_orientation=1), "positive_orientation=1 is unknown"),
        (lambda v: find_contours(v[0], "0.5"), "level='0.5' must be a finite number"),
        (lambda v: marching_cubes(v, float("nan")), "level=nan must be a finite number"),
    ],
)
def test_bad_input_raises_parameter_error(rng, call, message):
    with pytest.raises(gpuimg.ParameterError) as caught:
        call(rng.random((4, 5, 6)))
    assert message in str(caught.value)


def test_cuda_namespace_takes_one_explicit_host_round_trip(rng, on_cuda_target, monkeypatch):
    """Without a cuCIM marching cubes, the CUDA path copies to the host once and warns once."""
    monkeypatch.setattr(_host, "_WARNED", set())
    volume = smooth_volume(rng, (10, 12, 14))
    image = volume[5]
    with pytest.warns(UserWarning, match="marching_cubes has no GPU implementation"):
        got = marching_cubes(on_cuda_target(volume), 0.0)
    assert_same_mesh(got, skimage.measure.marching_cubes(volume, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        marching_cubes(on_cuda_target(volume), 0.0)
    with pytest.warns(UserWarning, match="find_contours has no GPU implementation"):
        got = find_contours(on_cuda_target(image), 0.0)
    assert_same_contours(got, skimage.measure.find_contours(image, 0.0))


def test_the_cuda_device_gives_the_normals_in_mm(rng, emulated_cuda, monkeypatch):
    monkeypatch.setattr(_host, "_WARNED", set())
    volume = smooth_volume(rng, (10, 12, 14))
    spacing = (2.5, 0.8, 0.6)
    with pytest.warns(UserWarning, match="marching_cubes has no GPU implementation"):
        got = marching_cubes(emulated_cuda(volume), 0.0, spacing=spacing)
    assert_same_mesh(got, skimage.measure.marching_cubes(volume, 0.0, spacing=spacing), spacing)


def test_mesh_measures_of_faces_on_the_gpu_and_vertices_on_the_cpu_name_the_devices(rng, emulated_cuda):
    """Faces left on the GPU with vertices copied to the host (for a plot) met CuPy's bare TypeError
    'Implicit conversion to a NumPy array is not allowed'; now a DeviceError saying what to do. Faces
    on the host with vertices on the GPU go to the GPU, as a mask does: scikit-image's area."""
    vertices, faces, _, _ = skimage.measure.marching_cubes(smooth_volume(rng, (10, 11, 12)), 0.0)
    for measure in (mesh_surface_area, mesh_volume):
        with pytest.raises(gpuimg.DeviceError, match=r"faces are on the GPU and the vertices on the CPU"):
            measure(vertices, emulated_cuda(faces))
    area = mesh_surface_area(emulated_cuda(vertices), faces)
    want = skimage.measure.mesh_surface_area(vertices.astype(np.float64), faces)
    np.testing.assert_allclose(float(area), want, rtol=1e-12)  # the same float64 sum, another order


def test_a_gpu_mask_with_a_cpu_image_is_a_device_error(rng, emulated_cuda):
    """A CuPy mask with a NumPy volume (or slice) was copied to the host without a word (the transfer
    warning is for GPU images only), where every other operation with a mask refuses it. A host mask
    with a GPU image still goes with it: scikit-image's mesh and contours."""
    volume = smooth_volume(rng, (10, 12, 14))
    mask = volume > -0.3
    with pytest.raises(gpuimg.DeviceError, match=r"mask is on the GPU and the image on the CPU.*to_numpy"):
        marching_cubes(volume, 0.0, mask=emulated_cuda(mask))
    with pytest.raises(gpuimg.DeviceError, match=r"mask is on the GPU and the image on the CPU.*to_numpy"):
        find_contours(volume[5], 0.0, mask=emulated_cuda(mask[5]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the GPU image's announced host copy
        mesh = marching_cubes(emulated_cuda(volume), 0.0, mask=mask)
        contours = find_contours(emulated_cuda(volume[5]), 0.0, mask=mask[5])
    assert_same_mesh(mesh, skimage.measure.marching_cubes(volume, 0.0, mask=mask))
    assert_same_contours(contours, skimage.measure.find_contours(volume[5], 0.0, mask=mask[5]))


@pytest.mark.gpu
def test_cupy_mesh_and_contours_stay_on_the_gpu(rng):
    import cupy

    volume = smooth_volume(rng, (30, 32, 34))
    mesh = marching_cubes(cupy.asarray(volume), 0.0, spacing=(2.0, 1.0, 1.0))
    assert all(isinstance(a, cupy.ndarray) for a in mesh)
    assert_same_mesh(
        mesh, skimage.measure.marching_cubes(volume, 0.0, spacing=(2.0, 1.0, 1.0)), (2.0, 1.0, 1.0)
    )
    area = mesh_surface_area(*mesh[:2])
    assert isinstance(area, cupy.ndarray)
    np.testing.assert_allclose(
        float(area), skimage.measure.mesh_surface_area(*(a.get() for a in mesh[:2])), rtol=1e-12
    )
    contours = find_contours(cupy.asarray(volume[10]), 0.0)
    assert all(isinstance(c, cupy.ndarray) for c in contours)
    assert_same_contours(contours, skimage.measure.find_contours(volume[10], 0.0))


def test_dask_input_is_computed(rng):
    da = pytest.importorskip("dask.array")
    volume = smooth_volume(rng, (12, 14, 16))
    lazy = da.from_array(volume, chunks=(5, 7, 16))
    assert_same_mesh(marching_cubes(lazy, 0.0), skimage.measure.marching_cubes(volume, 0.0))
    assert_same_contours(find_contours(lazy[6], 0.0), skimage.measure.find_contours(volume[6], 0.0))


def test_a_dask_volume_and_a_mask_made_from_it_are_read_once(rng):
    """A mask made from the Dask volume (volume > t) shares its reads: both are computed in one pass.
    Each was computed on its own, so every chunk of the volume was read twice."""
    pytest.importorskip("dask.array")
    volume = smooth_volume(rng, (12, 14, 16))
    lazy, reads = counted(volume, (6, 7, 16))
    mesh = marching_cubes(lazy, 0.0, mask=lazy > -0.2)
    assert len(reads) == lazy.npartitions == 4
    assert_same_mesh(mesh, skimage.measure.marching_cubes(volume, 0.0, mask=volume > -0.2))


def test_nan_voxels_without_a_level_name_the_nan_not_a_level_that_crosses(rng):
    # NaN voxels (outside a scanner's field of view) make scikit-image's default level
    # (volume.min() + volume.max()) / 2 NaN, so it finds no surface; the message named the finite
    # values' middle, 5.19615 here, as a level no surface crosses, though that level gives a mesh.
    z, y, x = np.mgrid[-6:7, -6:7, -6:7]
    volume = np.sqrt(x**2 + y**2 + z**2)
    volume[0, 0, 0] = np.nan
    middle = (np.nanmin(volume) + np.nanmax(volume)) / 2
    assert len(skimage.measure.marching_cubes(volume.astype(np.float32), middle)[0]) > 0
    with pytest.raises(gpuimg.ParameterError) as caught:
        marching_cubes(volume)
    message = str(caught.value)
    assert "NaN or infinite voxels" in message and "is nan" in message and "no surface crosses" not in message


@pytest.mark.parametrize("shape", [(9, 9, 9), (4, 3, 9), (2, 7, 5)])
def test_a_step_longer_than_the_shortest_axis_is_named(shape):
    # scikit-image marches through no cube when step_size >= the shortest axis's length (one sample
    # along it) and says "no surface found"; the message said to pick another level, though the
    # level crosses the ramp x + y + z everywhere. One less is the longest step that marches.
    z, y, x = np.indices(shape)
    volume = (x + y + z).astype(np.float32)
    longest = min(shape) - 1
    want = skimage.measure.marching_cubes(volume, 0.3, step_size=longest)
    assert_same_mesh(marching_cubes(volume, 0.3, step_size=longest), want)
    with pytest.raises(RuntimeError, match="No surface found"):
        skimage.measure.marching_cubes(volume, 0.3, step_size=longest + 1)
    message = f"step_size={longest + 1} leaves one sample.*at most {longest}"
    with pytest.raises(gpuimg.ParameterError, match=message):
        marching_cubes(volume, 0.3, step_size=longest + 1)


@pytest.mark.parametrize("flag", ["False", 0, None, np.zeros(2, bool)])
def test_allow_degenerate_that_is_not_a_bool_is_refused(flag):
    # scikit-image reads allow_degenerate by its truth value: 'False' (a config's text) kept the
    # degenerate triangles of a level at exact voxel values (824 faces where False gives 368), and an
    # array was NumPy's 'truth value ... is ambiguous'. NumPy's bools are taken, as scikit-image's.
    z, y, x = np.mgrid[-6:7, -6:7, -6:7]
    volume = np.round(np.sqrt(x**2 + y**2 + z**2)).astype(np.float32)  # whole values: level 4 on voxels
    with pytest.raises(gpuimg.ParameterError, match=r"allow_degenerate=.* must be True or False"):
        marching_cubes(volume, 4.0, allow_degenerate=flag)
    for value in (np.False_, np.True_):
        want = skimage.measure.marching_cubes(volume, 4.0, allow_degenerate=bool(value), method="lewiner")
        got = marching_cubes(volume, 4.0, allow_degenerate=value)
        for ours, theirs in zip(got, want, strict=True):
            np.testing.assert_array_equal(ours, theirs)


def test_infinite_voxels_without_a_level_are_refused_not_meshed_at_minus_inf():
    # The log of a map with a zero (log-ADC, log-SUV) holds -inf. scikit-image's default level,
    # (volume.min() + volume.max()) / 2 (nanmin and nanmax for marching squares), is then -inf, and
    # the mesh and contours at it were NaN points only (6 vertices, 4 contours here), returned as a
    # result; +inf gave no contour, silently. The reference: the finite voxels' range (NumPy), whose
    # middle the message names, and scikit-image's mesh and contours at a level inside it.
    z, y, x = np.mgrid[-6:7, -6:7, -6:7]
    with np.errstate(divide="ignore"):
        volume = np.log(np.sqrt(x**2 + y**2 + z**2)).astype(np.float32)  # -inf at the centre
    assert np.isneginf(0.5 * (volume.min() + volume.max()))
    finite = volume[np.isfinite(volume)]
    low, high = f"{finite.min():g}", f"{finite.max():g}"
    with pytest.raises(gpuimg.ParameterError) as caught:
        marching_cubes(volume)
    assert "is -inf" in str(caught.value) and f"finite values {low} and {high}" in str(caught.value)
    level = 1.5
    got = marching_cubes(volume, level)
    assert_same_mesh(got, skimage.measure.marching_cubes(volume, level, method="lewiner"))
    assert len(got[0]) > 100 and np.isfinite(got[0]).all()
    # Where no edge from an infinite pixel crosses the level (scikit-image interpolates such an edge
    # as inf / inf, NaN, at any level): -inf at the centre (below 1.5), +inf in a corner (above).
    for where, bad in (((6, 6), -np.inf), ((0, 0), np.inf)):
        image = np.nan_to_num(volume[6].astype(np.float64), neginf=0.0)
        image[where] = bad
        finite = image[np.isfinite(image)]
        with pytest.raises(gpuimg.ParameterError) as caught:
            find_contours(image)
        message = str(caught.value)
        assert f"is {bad}" in message and f"finite values {finite.min():g} and {finite.max():g}" in message
        want = skimage.measure.find_contours(image, level)
        got = find_contours(image, level)
        assert len(got) == len(want) == 1 and np.isfinite(got[0]).all()
        np.testing.assert_array_equal(got[0], want[0])


def _pieces(pieces):
    """Triangles (or segments) as a set, each its points sorted: the winding and direction left out."""
    return {tuple(sorted(map(tuple, piece))) for piece in np.asarray(pieces).tolist()}


@pytest.mark.parametrize("step", [1, 2])
def test_mask_keeps_the_cubes_whose_last_voxel_is_inside_as_documented(rng, step):
    # The docstring said "only cubes whose voxels are all inside are processed" (find_contours' rule
    # for squares); scikit-image processes a cube where the mask holds its last voxel (z+s, y+s, x+s)
    # alone, s the step (issue #8202), so a mask of half the voxels keeps about 100 times the
    # triangles its rule would (1147 against 13). The reference: the triangles of the unmasked mesh,
    # each in the cube of its centroid, picked by the rule. Behaviour unchanged: the docstring's rule.
    volume = ndi.gaussian_filter(rng.normal(size=(14, 15, 16)), 1.5).astype(np.float32)
    mask = rng.random(volume.shape) < 0.5
    vertices, faces, _, _ = skimage.measure.marching_cubes(
        volume, 0.0, step_size=step, allow_degenerate=False
    )
    # A triangle lying on a face between two cubes (a saddle face's 3 crossings) may be either's:
    # such triangles are left out of the comparison, in both meshes.
    cells = vertices[faces].mean(axis=1) / step
    off_faces = (cells - np.floor(cells) > 1e-4).all(axis=1)
    z, y, x = (np.floor(cells[off_faces]) * step).astype(int).T
    last = mask[z + step, y + step, x + step]
    corners = (0, step)
    all_eight = np.all([mask[z + i, y + j, x + k] for i in corners for j in corners for k in corners], axis=0)
    ours_vertices, ours_faces, _, _ = marching_cubes(
        volume, 0.0, step_size=step, allow_degenerate=False, mask=mask
    )
    ours_cells = ours_vertices[ours_faces].mean(axis=1) / step
    ours_faces = ours_faces[(ours_cells - np.floor(ours_cells) > 1e-4).all(axis=1)]
    assert len(ours_faces) == last.sum() > 10 * all_eight.sum()
    assert _pieces(ours_vertices[ours_faces]) == _pieces(vertices[faces[off_faces][last]])


def test_find_contours_mask_keeps_the_squares_wholly_inside_as_documented(rng):
    # The reference: the segments of the unmasked contours, each in the square of its midpoint.
    image = ndi.gaussian_filter(rng.normal(size=(40, 45)), 1.5)
    mask = rng.random(image.shape) < 0.7
    segments = np.concatenate(
        [np.stack([line[:-1], line[1:]], axis=1) for line in skimage.measure.find_contours(image, 0.0)]
    )
    r, c = np.floor(segments.mean(axis=1)).astype(int).T
    inside = mask[r, c] & mask[r + 1, c] & mask[r, c + 1] & mask[r + 1, c + 1]
    ours = np.concatenate(
        [np.stack([line[:-1], line[1:]], axis=1) for line in find_contours(image, 0.0, mask=mask)]
    )
    assert 0 < len(ours) == inside.sum() < len(segments)
    assert _pieces(ours) == _pieces(segments[inside])


def test_contours_next_to_infinite_pixels_end_at_their_finite_pixel():
    # scikit-image interpolates a crossing from an infinite pixel as inf / inf: a log-transformed
    # map's -inf (log 0) at the centre put NaN points in the contour at 0.5 around it (2 of 4), +inf
    # in a corner in the contour at 8. The crossing's limit is the edge's finite pixel; the
    # reference: scikit-image's contours with the infinite pixels at -+1e12 (within 1e-9 of it).
    y, x = np.mgrid[-6:7, -6:7]
    image = np.hypot(x, y)
    image[6, 6], image[0, 0] = -np.inf, np.inf
    for level in (0.5, 8.0):
        want = skimage.measure.find_contours(np.clip(image, -1e12, 1e12), level)
        got = find_contours(image, level)
        assert len(got) == len(want) > 0
        for ours, theirs in zip(got, want, strict=True):
            assert np.isfinite(ours).all()
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)
    # Around the -inf pixel, every neighbour is at 1 > 0.5: the contour is the diamond through them.
    diamond = [[6, 7], [5, 6], [6, 5], [7, 6], [6, 7]]
    np.testing.assert_allclose(find_contours(image, 0.5)[0], diamond, rtol=0, atol=1e-9)


def _read_corners(shape, step, mask):
    """The voxels marching cubes reads, from scikit-image's loop written out: cubes at origins 0, s,
    2s, ... while the origin is below ``n - s`` along each axis, each read at its 8 corners, and with a
    mask only where the mask holds its last corner (origin + s along each axis)."""
    read = np.zeros(shape, dtype=bool)
    for z in range(0, shape[0] - step, step):
        for y in range(0, shape[1] - step, step):
            for x in range(0, shape[2] - step, step):
                if mask is None or mask[z + step, y + step, x + step]:
                    read[z : z + step + 1 : step, y : y + step + 1 : step, x : x + step + 1 : step] = True
    return read


def test_a_nan_voxel_next_to_the_surface_is_refused_not_meshed_as_nan():
    # scikit-image interpolates the crossings on a NaN voxel's edges as NaN: a NaN next to the surface
    # of a ball of radius 4 gave 15 NaN vertices (and 27 NaN normals), and a NaN area and volume,
    # returned as a mesh. The reference: scikit-image's mesh, NaN, and its mesh of the volume with the
    # NaN replaced as the message says, which is ours.
    z, y, x = np.mgrid[-6:7, -6:7, -6:7]
    volume = np.sqrt(x**2 + y**2 + z**2).astype(np.float32)
    volume[6, 6, 10] = volume[6, 6, 11] = np.nan  # on the ball's radius 4 and one voxel past it
    want = skimage.measure.marching_cubes(volume, 4.0, method="lewiner")
    assert np.isnan(want[0]).any() and np.isnan(skimage.measure.mesh_surface_area(want[0], want[1]))
    for direction, fill in (("descent", 0.0), ("ascent", float(np.nanmax(volume)))):
        with pytest.raises(gpuimg.ParameterError) as caught:
            marching_cubes(volume, 4.0, gradient_direction=direction)
        message = str(caught.value)
        assert "2 NaN voxel(s) that marching cubes reads" in message and "(6, 6, 10)" in message
        assert f"np.nan_to_num(volume, nan={fill:g})" in message
        filled = np.nan_to_num(volume, nan=fill)
        got = marching_cubes(filled, 4.0, gradient_direction=direction)
        assert np.isfinite(got[0]).all() and np.isfinite(got[2]).all()
        assert_same_mesh(
            got, skimage.measure.marching_cubes(filled, 4.0, gradient_direction=direction, method="lewiner")
        )
    # A Volume: the advice keeps its spacing (np.nan_to_num of a Volume is an array, in voxel units).
    spacing = (2.0, 1.0, 0.5)
    with pytest.raises(gpuimg.ParameterError, match=r"dataclasses\.replace\(volume, data=np\.nan_to_num"):
        marching_cubes(gpuimg.Volume(volume, spacing=spacing), 4.0)
    fixed = dataclasses.replace(gpuimg.Volume(volume, spacing=spacing), data=np.nan_to_num(volume, nan=0.0))
    want = skimage.measure.marching_cubes(
        np.nan_to_num(volume, nan=0.0), 4.0, spacing=spacing, method="lewiner"
    )
    assert_same_mesh(marching_cubes(fixed, 4.0), want, spacing)


@pytest.mark.parametrize("step", [1, 2, 3])
def test_nan_voxels_are_refused_where_marching_cubes_reads_them_only(rng, step):
    # A NaN voxel that no processed cube reads (between the samples of a step, or where the mask
    # holds no cube) changes nothing: the mesh is scikit-image's and finite. One that is read is
    # refused, counted, with or without a mask. The reference: scikit-image's loop over its cubes
    # (_read_corners), and scikit-image's mesh of the same volume.
    checked = {"refused": 0, "meshed": 0}
    for trial in range(60):
        shape = tuple(int(n) for n in rng.integers(step + 2, 12, 3))
        volume = smooth_volume(rng, shape, sigma=1.2)
        count = int(rng.integers(1, 6))
        volume[tuple(rng.integers(0, n, count) for n in shape)] = np.nan
        mask = None if rng.random() < 0.3 else rng.random(shape) < rng.uniform(0.02, 0.9)
        if trial % 2:  # the message's advice: a mask without the cubes around them
            mask = rng.random(shape) < 0.7
            for z, y, x in np.argwhere(np.isnan(volume)):
                mask[z : z + step + 1 : step, y : y + step + 1 : step, x : x + step + 1 : step] = False
        elif _read_corners(shape, step, mask).any():  # and one more NaN, where a cube reads it
            volume[tuple(rng.choice(np.argwhere(_read_corners(shape, step, mask))))] = np.nan
        read = int((np.isnan(volume) & _read_corners(shape, step, mask)).sum())
        try:
            want = skimage.measure.marching_cubes(volume, 0.0, step_size=step, mask=mask, method="lewiner")
        except RuntimeError:  # no surface: ours says so (after the NaN check)
            want = None
        if read:
            with pytest.raises(gpuimg.ParameterError, match=f"holds {read} NaN voxel"):
                marching_cubes(volume, 0.0, step_size=step, mask=mask)
            checked["refused"] += 1
        elif want is not None:
            got = marching_cubes(volume, 0.0, step_size=step, mask=mask)
            assert all(np.isfinite(a).all() for a in want) and np.isfinite(got[0]).all()
            assert_same_mesh(got, want)
            checked["meshed"] += 1
    assert min(checked.values()) >= 3


def _ball(radius=4.0, n=16):
    """A ball of 1 in a float32 cube of 0: the surface at 0.5 lies between its voxels and the outside's."""
    z, y, x = np.mgrid[0:n, 0:n, 0:n] - (n - 1) / 2
    return (np.sqrt(x**2 + y**2 + z**2) <= radius).astype(np.float32)


def _not_finite(mesh):
    """The vertices of a mesh whose position or normal is not a number."""
    return int((~(np.isfinite(mesh[0]).all(axis=1) & np.isfinite(mesh[2]).all(axis=1))).sum())


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
@pytest.mark.parametrize("where", [(8, 8, 12), (8, 8, 11)])  # just outside the ball, just inside it
@pytest.mark.parametrize("direction", ["descent", "ascent"])
def test_an_infinite_voxel_next_to_the_surface_is_refused_not_meshed_with_nan_normals(bad, where, direction):
    # Lewiner's normals weigh the gradient within each cube: next to an infinite voxel it is infinite
    # (its own weighted by 1 / inf, 0 * inf), so scikit-image gave 6 to 10 NaN normals around one
    # +-inf voxel next to a ball's surface, returned as a mesh. The reference: scikit-image's mesh,
    # not finite, and its mesh of the volume clipped as the message says, which is ours.
    volume = _ball()
    volume[where] = bad
    assert _not_finite(skimage.measure.marching_cubes(volume, 0.5, gradient_direction=direction)) > 0
    with pytest.raises(gpuimg.ParameterError) as caught:
        marching_cubes(volume, 0.5, gradient_direction=direction)
    message = str(caught.value)
    assert "1 infinite voxel(s)" in message and f"(z, y, x) = {where}" in message
    assert "np.clip(volume, 0, 1)" in message
    assert "dataclasses.replace(volume, data=np.clip(volume.data, 0, 1))" in message
    clipped = np.clip(volume, 0, 1)
    got = marching_cubes(clipped, 0.5, gradient_direction=direction)
    assert _not_finite(got) == 0
    assert_same_mesh(got, skimage.measure.marching_cubes(clipped, 0.5, gradient_direction=direction))


def test_the_advice_for_infinite_voxels_keeps_a_volume_s_spacing_and_their_side_of_the_level():
    # A Volume's advice keeps its spacing (dataclasses.replace); with no finite voxel above the level
    # (+inf voxels alone inside), +inf becomes a value above it, not the highest finite one (which
    # would leave no surface). The reference: scikit-image's mesh with that spacing.
    data = np.zeros((9, 9, 9), np.float32)
    data[4, 4, 4:6] = np.inf
    volume = gpuimg.Volume(data, spacing=(2.0, 1.0, 0.5))
    with pytest.raises(gpuimg.ParameterError) as caught:
        marching_cubes(volume, 0.5)
    advice = "dataclasses.replace(volume, data=np.clip(volume.data, 0, 1.5))"  # 1.5: level + 1
    assert advice in str(caught.value)
    got = marching_cubes(eval(advice, {"dataclasses": dataclasses, "np": np, "volume": volume}), 0.5)
    want = skimage.measure.marching_cubes(np.clip(data, 0, 1.5), 0.5, spacing=(2.0, 1.0, 0.5))
    assert_same_mesh(got, want, spacing=(2.0, 1.0, 0.5))
    # Along z, 0.5 lies a third of the way from 0 to 1.5: slices 4 -+ 2/3, 2 mm apart each.
    np.testing.assert_allclose(np.ptp(got[0][:, 0]), 2 * (4 / 3), rtol=1e-6)


@pytest.mark.parametrize("step", [1, 2])
def test_infinite_voxels_are_refused_where_the_mesh_is_not_finite_only(rng, step):
    # An infinite voxel far from the surface (the -inf of a log map's zero, inside a lesion) changes
    # nothing, and the mesh is scikit-image's, values included; one next to it is refused, with or
    # without a mask. The reference: whether scikit-image's mesh of the same volume is finite.
    checked = {"refused": 0, "meshed": 0}
    # 40 volumes, and more until each outcome has 3 (a CI run's seed gave 2 refusals in 40).
    for attempt in range(400):
        if attempt >= 40 and min(checked.values()) >= 3:
            break
        shape = tuple(int(n) for n in rng.integers(step + 3, 12, 3))
        volume = smooth_volume(rng, shape, sigma=1.2)
        # Half the time where the surface passes, half on a voxel whose neighbours are all on its side
        # (an infinity of that side): the cubes around it are not crossed.
        near = rng.random() < 0.5
        around = 2 * step + 1
        calm = (ndi.minimum_filter(volume, around) > 0) | (ndi.maximum_filter(volume, around) <= 0)
        candidates = np.argwhere(~calm if near else calm)
        if not len(candidates):
            continue
        for z, y, x in candidates[rng.choice(len(candidates), min(3, len(candidates)), replace=False)]:
            volume[z, y, x] = np.inf if volume[z, y, x] > 0 else -np.inf
        mask = None if rng.random() < 0.5 else rng.random(shape) < 0.7
        try:
            want = skimage.measure.marching_cubes(volume, 0.0, step_size=step, mask=mask)
        except (RuntimeError, ValueError):  # no surface in the mask, or the level outside the values
            continue
        if _not_finite(want):
            with pytest.raises(gpuimg.ParameterError, match=r"infinite voxel\(s\), and the surface"):
                marching_cubes(volume, 0.0, step_size=step, mask=mask)
            checked["refused"] += 1
        else:
            assert_same_mesh(marching_cubes(volume, 0.0, step_size=step, mask=mask), want)
            checked["meshed"] += 1
    assert min(checked.values()) >= 3


def test_an_edge_from_minus_to_plus_infinity_and_overflowing_normals_are_refused():
    # Lewiner's vertex on an edge from -inf to +inf weighs both ends by 0: a NaN position (0 / 0).
    # Finite values 1e25 away from a voxel exactly at the level overflow its float32 normals: NaN.
    volume = _ball()
    volume[8, 8, 12], volume[8, 8, 13] = np.inf, -np.inf
    assert np.isnan(skimage.measure.marching_cubes(volume, 0.5)[0]).any()
    with pytest.raises(gpuimg.ParameterError, match=r"2 infinite voxel\(s\).*\(z, y, x\) = \(8, 8, 1[23]\)"):
        marching_cubes(volume, 0.5)
    volume = _ball()
    volume[8, 8, 12], volume[8, 8, 11] = 1e25, 0.5
    assert _not_finite(skimage.measure.marching_cubes(volume, 0.5)) > 0
    with pytest.raises(gpuimg.ParameterError, match=r"too large for scikit-image's float32 normals"):
        marching_cubes(volume, 0.5)
    volume[8, 8, 12] = 1e20  # overflows nothing: scikit-image's mesh
    assert_same_mesh(marching_cubes(volume, 0.5), skimage.measure.marching_cubes(volume, 0.5))
    # A float64 value beyond float32's range is infinite in scikit-image's float32 copy: named so.
    # Without NumPy's cast warning before it; and away from the surface such a value changes nothing.
    volume = _ball().astype(np.float64)
    volume[8, 8, 12] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(gpuimg.ParameterError, match=r"\(8, 8, 12\) \(1e\+39 there: infinite in float32"):
            marching_cubes(volume, 0.5)
        volume = _ball().astype(np.float64)
        volume[0, 0, 0] = -1e39  # a corner far from the ball, below the level as the outside is
        assert_same_mesh(marching_cubes(volume, 0.5), skimage.measure.marching_cubes(_ball(), 0.5))
