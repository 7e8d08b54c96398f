"""gpuimg.features.morphology: IBSI digital phantom, closed forms on synthetic shapes, Moran's I and Geary's C
by FFT against plain pair loops."""

import csv
import importlib
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.spatial
import skimage.measure
from dask_reads import counted
from numpy.polynomial.legendre import legval
from numpy.testing import assert_allclose

import gpuimg
from gpuimg.errors import FeatureError, FeatureWarning, MemoryBudgetError
from gpuimg.features._autocorrelation import _inverse_distance_sums
from gpuimg.features.morphology import _ellipsoid_area, _symmetric_eigenvalues, morphology
from gpuimg.kernels.hull import hull_candidates

#: The module of Moran's and Geary's sums, which morphology takes from it.
autocorrelation_module = importlib.import_module("gpuimg.features._autocorrelation")
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
PHANTOM = DATA / "ibsi" / "digital_phantom" / "nifti"
REFERENCE = DATA / "ibsi" / "reference_values" / "ibsi_1_dig_phantom.csv"

#: The tags morphology returns: every morph_ row of IBSI 1 with a reference value.
TAGS = (
    "morph_volume",
    "morph_vol_approx",
    "morph_area_mesh",
    "morph_av",
    "morph_comp_1",
    "morph_comp_2",
    "morph_sph_dispr",
    "morph_sphericity",
    "morph_asphericity",
    "morph_com",
    "morph_diam",
    "morph_pca_maj_axis",
    "morph_pca_min_axis",
    "morph_pca_least_axis",
    "morph_pca_elongation",
    "morph_pca_flatness",
    "morph_vol_dens_aabb",
    "morph_area_dens_aabb",
    "morph_vol_dens_aee",
    "morph_area_dens_aee",
    "morph_vol_dens_conv_hull",
    "morph_area_dens_conv_hull",
    "morph_integ_int",
    "morph_moran_i",
    "morph_geary_c",
)

# Anisotropic spacing (z, y, x) [mm] of the synthetic shapes.
SPACING = (1.25, 0.8, 1.0)


def _reference_rows() -> dict[str, tuple[float, float]]:
    """The morph_ rows of the digital phantom's reference table with a value: tag -> (value, tolerance)."""
    with REFERENCE.open(newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    return {
        tag: (float(value), float(tol)) for value, tol, tag in rows[1:] if tag.startswith("morph_") and value
    }


def _round3(value: float) -> float:
    """``value`` rounded to 3 significant digits (the IBSI comparison rule)."""
    return float(f"{value:.3g}")


def _centred_grid(shape, spacing=SPACING):
    """Voxel-centre coordinates [mm] (z, y, x) centred on the volume's middle."""
    axes = [(np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape, spacing, strict=True)]
    return np.meshgrid(*axes, indexing="ij")


@pytest.fixture(scope="module")
def phantom_features():
    if not REFERENCE.exists() or not PHANTOM.exists():
        pytest.skip(f"the IBSI digital phantom ({PHANTOM}) is absent")
    image = gpuimg.read_image(PHANTOM / "image" / "phantom.nii.gz")
    mask = gpuimg.read_image(PHANTOM / "mask" / "mask.nii.gz").data > 0
    # The digital phantom is used as is: no interpolation, no re-segmentation, so both masks are one.
    return morphology(image.data, mask, mask, image.spacing), _reference_rows()


@pytest.mark.parametrize("tag", TAGS)
def test_digital_phantom_matches_ibsi(phantom_features, tag):
    features, reference = phantom_features
    value, tolerance = reference[tag]
    assert abs(_round3(features[tag]) - value) <= tolerance, (features[tag], value, tolerance)


def test_digital_phantom_covers_every_morph_row_with_a_reference(phantom_features):
    features, reference = phantom_features
    assert set(reference) == set(TAGS) == set(features)
    assert all(isinstance(v, float) for v in features.values())


def test_ball_mesh_volume_area_sphericity_diameter(rng):
    shape = (24, 36, 30)
    z, y, x = _centred_grid(shape)
    r = 11.0
    ball = x**2 + y**2 + z**2 <= r**2
    f = morphology(rng.normal(100.0, 10.0, shape), ball, ball, SPACING)
    # The mesh of a voxelised ball encloses the ball's volume to within discretisation (~1%).
    assert_allclose(f["morph_volume"], 4 / 3 * math.pi * r**3, rtol=0.015)
    assert f["morph_vol_approx"] == pytest.approx(ball.sum() * np.prod(SPACING))
    # Marching cubes on a binary mask follows the voxel staircase (45-degree chamfers), which
    # overestimates a smooth surface's area by ~8-10% at any resolution: the area is checked from
    # above against 4 pi r^2 within 12%, and sphericity against 1 within 12% accordingly.
    assert 1.0 <= f["morph_area_mesh"] / (4 * math.pi * r**2) <= 1.12
    assert 0.88 <= f["morph_sphericity"] <= 1.0
    # The mesh reaches at most half a voxel beyond the voxel centres inside the ball.
    assert 2 * r - 1e-9 <= f["morph_diam"] <= 2 * r + max(SPACING)
    # Ratios follow from volume and area (IBSI 3.1.4-3.1.9).
    v, a = f["morph_volume"], f["morph_area_mesh"]
    assert_allclose(f["morph_av"], a / v, rtol=1e-12)
    assert_allclose(f["morph_comp_2"], f["morph_sphericity"] ** 3, rtol=1e-12)
    assert_allclose(f["morph_asphericity"], 1 / f["morph_sphericity"] - 1, rtol=1e-12)
    # A solid ball's PCA semi-axes are 2 r / sqrt(5), so the AEE volume density is 5^1.5 / 8.
    assert_allclose(f["morph_vol_dens_aee"], 5**1.5 / 8, rtol=0.03)


def test_ellipsoid_pca_axis_lengths(rng):
    """A solid ellipsoid's variance along a semi-axis a is a^2 / 5: axis length 4 a / sqrt(5)."""
    shape = (36, 56, 24)
    z, y, x = _centred_grid(shape)
    a, b, c = 20.0, 14.0, 8.0  # along y, z, x
    ellipsoid = (y / a) ** 2 + (z / b) ** 2 + (x / c) ** 2 <= 1
    f = morphology(rng.normal(size=shape), ellipsoid, ellipsoid, SPACING)
    expected = [4 * s / math.sqrt(5) for s in (a, b, c)]
    measured = [f["morph_pca_maj_axis"], f["morph_pca_min_axis"], f["morph_pca_least_axis"]]
    # The voxel grid (0.8-1.25 mm) against semi-axes of 8-20 mm: within 2%.
    assert_allclose(measured, expected, rtol=0.02)
    assert_allclose(f["morph_pca_elongation"], b / a, rtol=0.02)
    assert_allclose(f["morph_pca_flatness"], c / a, rtol=0.02)


def _symmetric_matrices(rng):
    """Covariances of point clouds; the hard cases: repeated, zero, negative, tiny and huge eigenvalues."""
    for _ in range(300):
        points = rng.normal(size=(int(rng.integers(2, 60)), 3)) * rng.uniform(0.1, 10, 3)
        yield np.cov(points, rowvar=False)
    for _ in range(300):
        general = rng.normal(size=(3, 3)) * 10.0 ** rng.integers(-3, 4)
        yield general + general.T  # indefinite
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    repeated = ([1, 1, 1], [2, 2, 5], [0, 0, 3], [0, 0, 0], [1, 1 + 1e-12, 7])
    for values in (*repeated, [-4, 0, 4], [3e-300, 1e-300, 2e-300]):
        yield rotation @ np.diag(values) @ rotation.T
    yield np.diag([3.0, -1.0, 2.0])
    yield np.full((3, 3), 1e300)  # rank one, near the top of float64
    yield np.array([[0.0, 1e-200, 0.0], [1e-200, 1.0, 0.0], [0.0, 0.0, 2.0]])  # theta² overflows


def test_symmetric_eigenvalues_equal_lapacks(rng):
    """The Jacobi eigenvalues of the PCA features against LAPACK's, to a few ulps of the largest."""
    for matrix in _symmetric_matrices(rng):
        matrix = (matrix + matrix.T) / 2
        expected = np.linalg.eigvalsh(matrix)
        measured = _symmetric_eigenvalues(matrix.tolist())
        atol = 16 * np.finfo(float).eps * np.abs(expected).max()
        assert_allclose(measured, expected, rtol=0, atol=atol, err_msg=str(matrix))


def test_ellipsoid_area_series_is_ibsis_legendre_series():
    """The recurrence against IBSI's series evaluated with NumPy's Legendre module, and exact for a sphere.

    IBSI's series (alpha = sqrt(1 - b²/a²), beta = sqrt(1 - c²/a²)) is not the exact area of a
    non-spherical ellipsoid; the digital phantom's reference value follows it, so it is checked as
    IBSI writes it.
    """
    for a, b, c in [(10.0, 7.0, 4.0), (5.0, 4.9, 4.8), (9.0, 3.1, 3.0), (6.0, 5.9, 2.0)]:
        alpha, beta = math.sqrt(1 - (b / a) ** 2), math.sqrt(1 - (c / a) ** 2)
        nu = np.arange(21.0)
        coefficients = (alpha * beta) ** nu / (1 - 4 * nu**2)
        series = 4 * math.pi * a * b * legval((alpha**2 + beta**2) / (2 * alpha * beta), coefficients)
        # The same 21 terms, summed after a recurrence instead of NumPy's Clenshaw scheme.
        assert_allclose(_ellipsoid_area(a, b, c), series, rtol=1e-9)
    assert_allclose(_ellipsoid_area(3.0, 3.0, 3.0), 4 * math.pi * 9.0, rtol=1e-15)
    # Spheroids (alpha beta = 0, where NumPy's form divides by zero): the limit of the tri-axial case.
    assert_allclose(_ellipsoid_area(6.0, 6.0, 2.0), _ellipsoid_area(6.0, 6.0 - 1e-9, 2.0), rtol=1e-8)
    assert_allclose(_ellipsoid_area(9.0, 3.0, 3.0), _ellipsoid_area(9.0, 3.0, 3.0 - 1e-9), rtol=1e-8)


def test_box_bounding_box_and_convex_hull_densities(rng):
    shape = (24, 40, 32)
    box = np.zeros(shape, dtype=bool)
    nz, ny, nx = 16, 30, 22
    box[4 : 4 + nz, 5 : 5 + ny, 6 : 6 + nx] = True
    f = morphology(rng.normal(size=shape), box, box, SPACING)
    # The mesh's faces lie on the box's outer voxel faces, but marching cubes cuts each edge with a
    # chamfer whose legs are half a voxel: along an edge of length L parallel to axis k, the volume
    # loses a prism of L s_i s_j / 8 and the area trades strips (s_i + s_j) / 2 wide for their
    # hypotenuse. The edges alone predict the deficits within 5% (the corners make up the rest).
    lengths = np.array([nz, ny, nx]) * SPACING
    aabb_volume = np.prod(lengths)
    aabb_area = 2 * (lengths[0] * lengths[1] + lengths[0] * lengths[2] + lengths[1] * lengths[2])
    volume_loss = area_loss = 0.0
    for k, i, j in [(0, 1, 2), (1, 0, 2), (2, 0, 1)]:
        si, sj = SPACING[i], SPACING[j]
        volume_loss += 4 * lengths[k] * si * sj / 8
        area_loss += 4 * lengths[k] * (si + sj - math.hypot(si, sj)) / 2
    assert_allclose(1 - f["morph_vol_dens_aabb"], volume_loss / aabb_volume, rtol=0.05)
    assert_allclose(1 - f["morph_area_dens_aabb"], area_loss / aabb_area, rtol=0.05)
    # A chamfered box is convex: it is its own convex hull.
    assert_allclose(f["morph_vol_dens_conv_hull"], 1.0, rtol=1e-9)
    assert_allclose(f["morph_area_dens_conv_hull"], 1.0, rtol=1e-9)
    assert_allclose(f["morph_vol_approx"], nz * ny * nx * np.prod(SPACING), rtol=1e-12)


def test_diameter_over_hull_equals_all_mesh_vertices(rng):
    """The hull shortcut against the brute-force search over every vertex of scikit-image's mesh."""
    shape = (12, 14, 16)
    mask = rng.random(shape) < 0.3
    mask[6, 7, 8] = True
    f = morphology(rng.normal(size=shape), mask, mask, SPACING)
    verts, _, _, _ = skimage.measure.marching_cubes(np.pad(mask, 1).astype(float), 0.5, spacing=SPACING)
    assert_allclose(f["morph_diam"], scipy.spatial.distance.pdist(verts.astype(float)).max(), rtol=1e-9)


def _mesh_reference(mask, spacing):
    """Volume, area, convex hull, diameter and bounding box of scikit-image's mesh of the padded mask."""
    verts, faces, _, _ = skimage.measure.marching_cubes(np.pad(mask, 1).astype(float), 0.5, spacing=spacing)
    verts = verts.astype(float)
    a, b, c = (verts[faces[:, k]] for k in range(3))
    volume = abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6
    hull = scipy.spatial.ConvexHull(verts)
    extent = verts.max(axis=0) - verts.min(axis=0)
    diameter = scipy.spatial.distance.pdist(verts).max()
    return volume, skimage.measure.mesh_surface_area(verts, faces), hull, diameter, extent


@pytest.mark.parametrize("density", [0.05, 0.3, 0.7])
def test_mesh_measures_hull_and_box_equal_scikit_images_mesh(rng, density):
    """Volume and area (summed per cube configuration) and the hull, diameter and bounding box (of the
    edge midpoints, without the cube centres of Lewiner's mesh) against scikit-image's whole mesh."""
    shape = (7, 9, 8)
    spacing = tuple(rng.uniform(0.5, 2.5, 3))
    mask = rng.random(shape) < density
    mask[3, 4, 4] = True
    f = morphology(rng.normal(size=shape), mask, mask, spacing)
    volume, area, hull, diameter, extent = _mesh_reference(mask[_box(mask)], spacing)
    # Same mesh, summed in another order: rounding only.
    assert_allclose([f["morph_volume"], f["morph_area_mesh"]], [volume, area], rtol=1e-12)
    assert_allclose(f["morph_vol_dens_conv_hull"], volume / hull.volume, rtol=1e-12)
    assert_allclose(f["morph_area_dens_conv_hull"], area / hull.area, rtol=1e-12)
    assert_allclose(f["morph_diam"], diameter, rtol=1e-12)
    assert_allclose(f["morph_vol_dens_aabb"], volume / np.prod(extent), rtol=1e-12)


def test_edge_midpoints_span_every_configurations_mesh():
    """Each of the 254 cube configurations with a surface: the hull of the edge midpoints that can be
    its vertices is the hull of scikit-image's whole mesh (the centre vertices add nothing)."""
    spacing = (1.7, 0.6, 1.1)
    for case in range(1, 255):
        cube = ((case >> np.arange(8)) & 1).astype(np.uint8).reshape(2, 2, 2)
        points = hull_candidates(cube, spacing)
        _, _, hull, diameter, extent = _mesh_reference(cube, spacing)
        ours = scipy.spatial.ConvexHull(points)
        assert_allclose([ours.volume, ours.area], [hull.volume, hull.area], rtol=1e-12, err_msg=str(case))
        assert_allclose(scipy.spatial.distance.pdist(points).max(), diameter, rtol=1e-12)
        assert_allclose(points.max(axis=0) - points.min(axis=0), extent, rtol=1e-12)


def _box(mask):
    return tuple(slice(idx.min(), idx.max() + 1) for idx in np.nonzero(mask))


def _moran_geary_double_loop(image, mask, spacing):
    """Moran's I and Geary's C by IBSI's definition, as a plain double loop over voxel pairs."""
    idx = np.argwhere(mask)
    g = image[mask].astype(float)
    dev = g - g.mean()
    n = len(g)
    sum_w = num_i = num_c = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                w = 1.0 / math.dist(idx[i] * spacing, idx[j] * spacing)
                sum_w += w
                num_i += w * dev[i] * dev[j]
                num_c += w * (g[i] - g[j]) ** 2
    ss = (dev**2).sum()
    return n * num_i / (sum_w * ss), (n - 1) * num_c / (2 * sum_w * ss)


def _resegmented_with_holes(rng, shape):
    """A random morphological mask and its intensity mask: the morphological one less its 20% darkest
    voxels, so the intensity mask has holes; an image with a spatial trend along x."""
    image = rng.normal(50.0, 20.0, shape) + np.linspace(0, 30, shape[2])
    morph = rng.random(shape) < 0.6
    morph[tuple(n // 2 for n in shape)] = True
    intensity = morph & (image > np.quantile(image[morph], 0.2))
    return image, morph, intensity


def _two_far_corners(rng, shape):
    """Two clusters in opposite corners of the box: the offsets that would wrap around a too small FFT."""
    image = rng.normal(size=shape)
    mask = np.zeros(shape, dtype=bool)
    mask[:2, :2, :2] = mask[-2:, -2:, -2:] = True
    return image, mask, mask


def _thin_slab(rng, shape):
    """A one-voxel-thick slab (a box of size 1 along z) with a gradient and noise, inside a larger image."""
    image = rng.normal(size=shape) + np.arange(shape[1])[None, :, None]
    mask = np.zeros(shape, dtype=bool)
    mask[shape[0] // 2, 1:-1, 2:] = rng.random((shape[1] - 2, shape[2] - 2)) < 0.9
    return image, mask, mask


@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (_resegmented_with_holes, (6, 7, 8)),
        (_resegmented_with_holes, (9, 4, 5)),
        (_two_far_corners, (5, 9, 4)),
        (_thin_slab, (5, 9, 11)),
    ],
)
@pytest.mark.parametrize("path", ["pairs", "fft"])
def test_moran_geary_equal_the_pair_loop(rng, make, shape, path, monkeypatch):
    # Pair by pair (the CPU's way for these small ROIs) or by FFT (CUDA's, and the CPU's for large ROIs).
    monkeypatch.setattr(autocorrelation_module, "_PAIR_US", 0.0 if path == "pairs" else math.inf)
    monkeypatch.setattr(autocorrelation_module, "_OFFSET_US", 0.0)
    ran = _paths_run(monkeypatch)
    image, morph, intensity = make(rng, shape)
    with warnings.catch_warnings():
        # A one-voxel-thick slab has no enclosing ellipsoid (its least PCA axis is 0).
        warnings.filterwarnings("ignore", "IBSI defines no value of morph_vol_dens_aee", FeatureWarning)
        f = morphology(image, morph, intensity, SPACING)
    assert ran == [path]
    moran, geary = _moran_geary_double_loop(image, intensity, np.asarray(SPACING))
    # The FFT's float64 rounding is ~1e-16 log(L) of the sums' terms (measured: ~5e-16 relative on
    # such ROIs), the pairs' ~1e-16 sqrt(n); Moran's I also divides a sum that cancels, so 1e-10
    # relative with 1e-12 absolute leaves a wide margin without hiding a wrong weight or a wrapped
    # offset (errors of 1e-3 and more).
    assert_allclose(f["morph_moran_i"], moran, rtol=1e-10, atol=1e-12)
    assert_allclose(f["morph_geary_c"], geary, rtol=1e-10, atol=1e-12)


def _paths_run(monkeypatch) -> list[str]:
    """The ways morphology takes Moran's and Geary's sums from now on, in the list returned."""
    ran = []
    for name, path in (("inverse_distance_pairs", "pairs"), ("_inverse_distance_sums", "fft")):
        original = getattr(autocorrelation_module, name)
        monkeypatch.setattr(
            autocorrelation_module,
            name,
            lambda *args, original=original, path=path: ran.append(path) or original(*args),
        )
    return ran


@pytest.mark.parametrize(("side", "path"), [(5, "pairs"), (9, "pairs"), (10, "fft"), (20, "fft")])
def test_small_rois_take_the_pairs_and_large_ones_the_fft(rng, side, path, monkeypatch):
    """By the times measured: a full cube (the least box for its voxels) of 729 voxels pair by pair
    (92 us against 117 by FFT), of 1000 by FFT (142 us against 170 pair by pair)."""
    ran = _paths_run(monkeypatch)
    image = rng.normal(40.0, 10.0, (side,) * 3)
    mask = np.ones(image.shape, bool)
    morphology(image, mask, mask, SPACING)
    assert ran == [path]


def test_inverse_distance_sums_equal_the_pair_sums(rng):
    """The three sums themselves (W too, which Moran's I and Geary's C cancel against each other)."""
    shape = (7, 6, 9)
    image = rng.normal(size=shape)
    mask = rng.random(shape) < 0.5
    mask[0, 0, 0] = mask[-1, -1, -1] = True
    mean = image[mask].mean()
    got = _inverse_distance_sums(image, mask, mean, SPACING)
    pos = np.argwhere(mask) * np.asarray(SPACING)
    dev = image[mask] - mean
    dist = scipy.spatial.distance.squareform(scipy.spatial.distance.pdist(pos))
    w = np.divide(1.0, dist, out=np.zeros_like(dist), where=dist > 0)
    expected = [w.sum(), dev @ w @ dev, (w * (dev[:, None] - dev[None, :]) ** 2).sum()]
    # FFT rounding against a sum of ~10^5 positive and signed terms: see test_moran_geary_equal_the_pair_loop.
    assert_allclose(got, expected, rtol=1e-10)


def test_com_and_integrated_intensity_use_the_intensity_mask(rng):
    image, morph, intensity = _resegmented_with_holes(rng, (6, 7, 8))
    sp = np.asarray(SPACING)
    f = morphology(image, morph, intensity, SPACING)
    com_geom = (np.argwhere(morph) * sp).mean(axis=0)
    g = image[intensity]
    com_int = (g[:, None] * np.argwhere(intensity) * sp).sum(axis=0) / g.sum()
    assert_allclose(f["morph_com"], np.linalg.norm(com_geom - com_int), rtol=1e-10)
    assert_allclose(f["morph_integ_int"], f["morph_volume"] * g.mean(), rtol=1e-12)


def test_two_voxels_moran_and_geary(rng):
    """Two voxels: the only pair has d_1 = -d_2, so I = 2 (-d^2) / (d^2 + d^2) = -1 and C = 1.

    A line of voxels has no ellipsoid (its PCA's least axis is 0): those densities are NaN, with a warning.
    """
    image = rng.normal(size=(3, 4, 5))
    mask = np.zeros(image.shape, dtype=bool)
    mask[0, 1, 1] = mask[2, 3, 4] = True
    with pytest.warns(FeatureWarning, match="morph_vol_dens_aee"):
        f = morphology(image, mask, mask, SPACING)
    assert_allclose([f["morph_moran_i"], f["morph_geary_c"]], [-1.0, 1.0], rtol=1e-12)


def test_one_slice_roi_keeps_its_ellipsoid_area_density(rng):
    """A one-slice ROI (an ellipse drawn on one CT slice) has a flat ellipsoid: least PCA axis 0, so its
    AEE volume density is undefined (V / 0), but IBSI's area series is finite for c = 0 (alpha < 1,
    beta = 1): the area density is a number, as MIRP gives it. It was NaN with the volume density.
    Reference: the PCA with NumPy, IBSI's series with NumPy's Legendre module, the mesh area with
    scikit-image's marching cubes."""
    shape = (3, 21, 31)
    spacing = (5.0, 0.7, 0.7)
    y, x = np.mgrid[-10:11, -15:16]
    mask = np.zeros(shape, dtype=bool)
    mask[1] = (x / 13.0) ** 2 + (y / 7.0) ** 2 <= 1  # semi-axes 13 and 7 voxels in one slice
    with pytest.warns(FeatureWarning, match="morph_vol_dens_aee") as record:
        f = morphology(rng.normal(size=shape), mask, mask, spacing)
    assert "morph_area_dens_aee" not in record[0].message.undefined
    eigen = np.linalg.eigvalsh(np.cov((np.argwhere(mask) * np.asarray(spacing)).T, ddof=1))
    a, b = 2 * np.sqrt(eigen[::-1][:2])  # semi-axes 2 sqrt(l); c = 0
    alpha, beta = math.sqrt(1 - (b / a) ** 2), 1.0
    nu = np.arange(21.0)
    series = (
        4
        * math.pi
        * a
        * b
        * legval((alpha**2 + beta**2) / (2 * alpha * beta), (alpha * beta) ** nu / (1 - 4 * nu**2))
    )
    verts, faces, _, _ = skimage.measure.marching_cubes(np.pad(mask, 1).astype(float), 0.5, spacing=spacing)
    area = skimage.measure.mesh_surface_area(verts, faces)
    assert math.isnan(f["morph_vol_dens_aee"])
    # scikit-image's mesh is float32 (1e-7 relative); LAPACK's and Jacobi's eigenvalues agree to 1e-12.
    assert_allclose(f["morph_area_dens_aee"], area / series, rtol=1e-6)


@pytest.mark.gpu
def test_cupy_input_equals_numpy(rng):
    import cupy

    shape = (10, 12, 14)
    z, y, x = _centred_grid(shape)
    morph = (x / 6) ** 2 + (y / 4) ** 2 + (z / 5) ** 2 <= 1
    intensity = morph & (rng.random(shape) < 0.8)
    image = rng.normal(size=shape)
    cpu = morphology(image, morph, intensity, SPACING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # marching cubes' one-time host round trip
        gpu = morphology(cupy.asarray(image), cupy.asarray(morph), cupy.asarray(intensity), SPACING)
    assert gpu.keys() == cpu.keys()
    # cuFFT and pocketFFT round differently (~1e-15 relative); the rest is the same float64 arithmetic.
    assert_allclose([gpu[k] for k in TAGS], [cpu[k] for k in TAGS], rtol=1e-10)


def test_empty_masks_raise_feature_error():
    image = np.zeros((4, 5, 6))
    empty = np.zeros(image.shape, dtype=bool)
    with pytest.raises(FeatureError, match=r"morphological mask .* is empty.*label value"):
        morphology(image, empty, empty, SPACING)
    full = np.ones(image.shape, dtype=bool)
    with pytest.raises(FeatureError, match=r"intensity mask is empty.*re-segmentation range"):
        morphology(image, full, empty, SPACING)


def test_shape_and_spacing_mismatches_raise_feature_error():
    image = np.zeros((4, 5, 6))
    mask = np.ones((4, 5, 6), dtype=bool)
    with pytest.raises(FeatureError, match=r"one shape.*\(4, 5, 7\)"):
        morphology(image, mask, np.ones((4, 5, 7), dtype=bool), SPACING)
    with pytest.raises(FeatureError, match="3D"):
        morphology(image[0], mask[0], mask[0], SPACING)
    for spacing in [(1.0, 1.0), (1.0, 0.0, 1.0), (1.0, float("nan"), 1.0), "abc"]:
        with pytest.raises(FeatureError, match="spacing"):
            morphology(image, mask, mask, spacing)


def test_volume_or_complex_image_raises_feature_error_and_a_list_is_an_array(rng):
    # A Volume image was a bare TypeError ('Volume' object is not subscriptable) and a complex one lost
    # its imaginary part with only NumPy's ComplexWarning; a nested list was a TypeError too.
    image = rng.normal(size=(4, 5, 6))
    mask = np.zeros(image.shape, dtype=bool)
    mask[1:3, 1:4, 2:5] = True
    with pytest.raises(FeatureError, match=r"not a Volume.*extract\(volume, mask"):
        morphology(gpuimg.Volume(image, spacing=SPACING), mask, mask, SPACING)
    with pytest.raises(FeatureError, match="real numbers; got dtype complex128"):
        morphology(image + 1j, mask, mask, SPACING)
    expected = morphology(image, mask, mask, SPACING)
    assert morphology(image.tolist(), mask, mask, SPACING) == expected


def test_single_voxel_gives_nan_with_a_warning():
    image = np.zeros((3, 3, 3))
    mask = np.zeros(image.shape, dtype=bool)
    mask[1, 1, 1] = True
    with pytest.warns(FeatureWarning, match="IBSI defines no value"):
        f = morphology(image, mask, mask, SPACING)
    assert math.isnan(f["morph_pca_elongation"]) and math.isnan(f["morph_moran_i"])
    assert math.isnan(f["morph_com"])  # intensities summing to 0: no intensity-weighted centre
    assert f["morph_vol_approx"] == pytest.approx(np.prod(SPACING))
    assert f["morph_volume"] > 0


def test_cached_kernel_spectrum_equals_the_kernel_transformed_directly():
    """The inverse-distance kernel's spectrum, cached per grid, is the FFT of 1/|offset| laid out by hand."""
    from gpuimg.backend import namespace
    from gpuimg.features._autocorrelation import _inverse_distance
    from gpuimg.features._fft import radial_spectrum

    grid, spacing = (5, 6, 9), (2.0, 0.5, 0.75)
    kernel = np.zeros(grid)
    for index in np.ndindex(*grid):
        offset = [(k if k <= n // 2 else k - n) * s for k, n, s in zip(index, grid, spacing, strict=True)]
        distance = math.sqrt(sum(o * o for o in offset))
        kernel[index] = 0.0 if distance == 0 else 1.0 / distance
    expected = np.fft.rfftn(kernel).real
    ns = namespace(np.zeros(1))
    first = radial_spectrum(ns, grid, spacing, _inverse_distance, cache=True)
    again = radial_spectrum(ns, grid, spacing, _inverse_distance, cache=True)
    assert again is first and not first.flags.writeable  # kept, and safe to share
    assert_allclose(first, expected, rtol=1e-12, atol=1e-12)
    assert_allclose(radial_spectrum(ns, grid, spacing, _inverse_distance), expected, rtol=1e-12, atol=1e-12)
    # A grid of another spacing is another kernel.
    assert not np.allclose(radial_spectrum(ns, grid, (1.0, 1.0, 1.0), _inverse_distance, cache=True), first)


@pytest.mark.parametrize(
    "shape, grid", [((3, 4, 5, 6), (9, 10, 12)), ((4, 7, 3), (8, 15, 6)), ((5, 5), (9, 10))]
)
def test_pruned_spectrum_equals_the_full_real_fft(shape, grid, rng):
    """spectrum skips the lines its zero padding leaves zero: the same spectrum as NumPy's rfftn of the
    padded input (a stack along a leading axis transformed one by one), odd and even lengths."""
    from gpuimg.backend import namespace
    from gpuimg.features._fft import spectrum

    image = rng.normal(size=shape)
    axes = tuple(range(len(shape) - len(grid), len(shape)))
    got = spectrum(namespace(image), image, grid)
    # SciPy's rfftn, whose 1-D transforms spectrum runs in the same order: the same bits.
    np.testing.assert_array_equal(got, scipy.fft.rfftn(image, grid, axes=axes))
    # NumPy's (another library's FFT): a few ulps of the largest coefficient, times log(points).
    expected = np.fft.rfftn(image, grid, axes=axes)
    assert_allclose(got, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


@pytest.mark.parametrize("value", [5.0, 0.1, 2.675])
def test_constant_intensities_leave_moran_and_geary_undefined(value):
    # IBSI's Moran's I and Geary's C divide by the sum of squared deviations, 0 for a constant ROI. The
    # rounded mean of 0.1 missed the value by an ulp, which gave Moran's I = 1 and Geary's C = 0.
    image = np.full((6, 6, 6), value)
    mask = np.zeros(image.shape, dtype=bool)
    mask[1:5, 1:5, 1:5] = True
    with pytest.warns(FeatureWarning, match="morph_moran_i, morph_geary_c"):
        f = morphology(image, mask, mask, SPACING)
    assert math.isnan(f["morph_moran_i"]) and math.isnan(f["morph_geary_c"])


def test_moran_and_geary_past_the_memory_budget_are_refused(rng, monkeypatch):
    # The inverse-distance sums run over a grid of about 2n per axis of the intensity mask's box of n:
    # a 30³ box takes 60³ points, about 9 MB (a 300³ box 8.6 GB), past a budget of 1 MB. It was NumPy's
    # MemoryError, once the FFT's arrays were allocated.
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "1M")
    image = rng.normal(0.0, 50.0, (30, 30, 30))
    mask = np.ones(image.shape, bool)
    with pytest.raises(MemoryBudgetError, match=r"Moran's I and Geary's C .* \(30, 30, 30\) voxels"):
        morphology(image, mask, mask, (1.0, 1.0, 1.0))


def test_the_hull_candidates_past_the_memory_budget_are_refused(rng, monkeypatch):
    # The hull's candidate kernel allocates a padded copy of the ROI's box (a byte a voxel) and a
    # table of 8 bytes per line (its ends) of its largest plane of lattice lines, (2 * 61 + 1 + 2 * 61)^2
    # lines for a 60^3 box: 702 KiB in all (closed form), before any check. A diagonal line of voxels spans
    # the box with few voxels, so nothing else comes near the budget.
    image = rng.normal(0.0, 50.0, (60, 60, 60))
    mask = np.zeros(image.shape, bool)
    mask[np.arange(60), np.arange(60), np.arange(60)] = True
    needed = 62**3 + 8 * (2 * 61 + 1 + 2 * 61) ** 2
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed - 1))
    with pytest.raises(MemoryBudgetError, match=r"the convex hull's candidates of a \(60, 60, 60\) ROI box"):
        morphology(image, mask, mask, (1.0, 1.0, 1.0))
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed))  # the hull fits: the next check speaks
    with pytest.raises(MemoryBudgetError, match=r"Moran's I and Geary's C"):
        morphology(image, mask, mask, (1.0, 1.0, 1.0))


def test_a_dask_image_and_masks_made_from_it_are_read_once(rng):
    """Masks made from the Dask image (image > t) share its reads: all three are computed in one
    pass. Each was computed on its own, so every chunk of the image was read three times."""
    pytest.importorskip("dask.array")
    z, y, x = np.mgrid[-8:8, -8:8, -8:8]
    image = 100.0 - (x**2 + y**2 + z**2) + rng.normal(0.0, 1.0, x.shape)
    lazy, reads = counted(image, 8)
    features = morphology(lazy, lazy > 40.0, lazy > 60.0, (2.0, 1.0, 1.0))
    assert len(reads) == lazy.npartitions == 8
    # IBSI 3.1.2: the approximate volume is the voxels of the morphological mask times a voxel's volume.
    assert features["morph_vol_approx"] == np.count_nonzero(image > 40.0) * 2.0


def test_a_float_mask_holds_its_non_zero_voxels_and_not_its_nan(rng):
    # gpuimg's one rule for masks (roi_voxels): NaN is no part of the ROI. morphology took a float mask
    # as bool, NaN as True, so the NaN around the ROI was measured with it (a 4 x 5 x 5 box in NaN
    # elsewhere: a voxel volume of 719 mm³, not 100). Expected: the voxel count (closed form) and
    # scikit-image's mesh of the mask without its NaN.
    shape = (8, 9, 10)
    image = rng.normal(10.0, 2.0, shape)
    mask = np.zeros(shape, bool)
    mask[2:6, 2:7, 3:8] = rng.random((4, 5, 5)) < 0.8
    mask[3, 4, 5] = True
    numbers = np.where(mask, 2.0, np.nan)
    numbers[0, 0, :2] = 0.0  # a 0 is outside too
    f = morphology(image, numbers, numbers, (1.0, 1.0, 1.0))
    assert f["morph_vol_approx"] == mask.sum()
    volume, area, *_ = _mesh_reference(mask[_box(mask)], (1.0, 1.0, 1.0))
    assert_allclose([f["morph_volume"], f["morph_area_mesh"]], [volume, area], rtol=1e-12)  # rounding only
    inside = image[mask]
    assert_allclose(f["morph_integ_int"], volume * inside.mean(), rtol=1e-12)


def _ball_and_image(rng):
    """A ball of radius 5 in a 17^3 grid and a positive, non-constant image around it."""
    z, y, x = _centred_grid((17, 17, 17))
    ball = x**2 + y**2 + z**2 <= 25
    return ball, 100.0 - (x**2 + y**2 + z**2) + rng.normal(0.0, 5.0, ball.shape)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_image_values_in_the_roi_are_refused_as_extract_refuses_them(rng, bad):
    # Called directly (not through extract, whose chain refuses them), morphology took a NaN inside
    # the ROI into its sums: morph_com, morph_integ_int, Moran's I and Geary's C came out NaN (inf for
    # morph_integ_int with +inf), and Moran's I and Geary's C were said undefined for "constant
    # intensities". Now refused with extract's own error, before any work; also where the NaN is in
    # the morphological mask only (extract's ROI). The reference: extract's error on the same input.
    ball, image = _ball_and_image(rng)
    image[8, 8, 12] = bad  # inside the ball, next to its surface
    with pytest.raises(FeatureError) as want:
        gpuimg.features.extract(image, ball, spacing=1.0, families=["morphology"])
    with pytest.raises(FeatureError) as got:
        morphology(image, ball, ball, (1.0, 1.0, 1.0))
    assert (
        str(got.value)
        == str(want.value)
        == (
            "the ROI holds 1 voxel(s) that are NaN or infinite: replace them (e.g. numpy.nan_to_num) or "
            "leave them out of the mask."
        )
    )
    intensity = ball.copy()
    intensity[8, 8, 12] = False  # re-segmented out: still the morphological mask's voxel
    with pytest.raises(FeatureError, match=r"^the ROI holds 1 voxel\(s\) that are NaN or infinite"):
        morphology(image, ball, intensity, (1.0, 1.0, 1.0))


def test_nan_image_values_outside_the_roi_change_nothing(rng):
    # NaN outside the morphological mask is no part of any feature (extract keeps such an image too).
    # The reference: the IBSI centre of mass shift written out with NumPy (the morphological mask's
    # centre against the intensity-weighted centre of the intensity mask) and the integrated
    # intensity, on the image with a finite value there; every feature equals that image's.
    ball, image = _ball_and_image(rng)
    intensity = ball & (image > 80.0)
    finite = morphology(image, ball, intensity, SPACING)
    image[8, 8, 14] = image[0, 0, 0] = np.nan  # outside the ball
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no feature said undefined
        got = morphology(image, ball, intensity, SPACING)
    sp = np.asarray(SPACING)
    g = image[intensity]
    com_int = (g[:, None] * np.argwhere(intensity) * sp).sum(axis=0) / g.sum()
    com_geom = (np.argwhere(ball) * sp).mean(axis=0)
    assert_allclose(got["morph_com"], np.linalg.norm(com_geom - com_int), rtol=1e-10)  # summation order
    assert_allclose(got["morph_integ_int"], got["morph_volume"] * g.mean(), rtol=1e-12)
    assert got == finite
