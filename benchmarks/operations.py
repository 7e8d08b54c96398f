"""The operations benchmarked against their peer library, shared by compare.py and the pytest-benchmark suite.

Each :class:`Operation` builds its input on a device and gives two callables on it: the peer's way
(SciPy on the CPU, cupyx on CUDA) and gpuimg's. Later issues append their rows to :data:`OPERATIONS`.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import skimage.draw
import skimage.measure
import skimage.transform

import gpuimg
from gpuimg.backend import Namespace
from gpuimg.volume import AXIAL, Volume


@dataclass(frozen=True)
class Operation:
    """One row of the comparison: an operation, its input, the peer's code and gpuimg's."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    peer_name: Callable[[Namespace], str]
    peer: Callable[[Namespace, object], object]
    ours: Callable[[object], object]
    #: Builds the host input from a generator, shape and dtype; default: normal noise (sd 100).
    build: Callable[[np.random.Generator, tuple[int, ...], str], np.ndarray] | None = None

    def make_input(self, ns: Namespace, seed: int = 0):
        """The operation's input (random noise unless it has its own builder) on the namespace's device;
        a builder's tuple (a Volume and its reference grid) part by part."""
        rng = np.random.default_rng(seed)
        if self.build is None:
            image = rng.normal(0.0, 100.0, self.shape).astype(self.dtype)
        else:
            image = self.build(rng, self.shape, self.dtype)
        if isinstance(image, tuple):  # an input and the grid to resample it onto
            return tuple(gpuimg.to_device(part, ns.device) for part in image)
        return gpuimg.to_device(image, ns.device)


def _sobel_magnitude(ns: Namespace, image):
    derivatives = [ns.ndi.sobel(image, axis=axis) for axis in range(image.ndim)]
    return ns.xp.sqrt(sum(d * d for d in derivatives))


def _simpleitk_median(ns: Namespace, image):
    """SimpleITK's Median (radius 1) on the CPU; on CUDA the peer is cupyx's median_filter instead."""
    if ns.device == "cuda":
        return ns.ndi.median_filter(image, 3)
    import SimpleITK as sitk

    return sitk.Median(sitk.GetImageFromArray(image), [1, 1, 1])


def _simpleitk_bilateral(ns: Namespace, image):
    """SimpleITK's Bilateral (CPU only: neither cupyx nor cuCIM has one, so on CUDA the peer is
    SimpleITK on a host copy, transfer included)."""
    import SimpleITK as sitk

    return sitk.Bilateral(sitk.GetImageFromArray(gpuimg.to_numpy(image)), 1.0, 50.0)


def _simpleitk_curvature_flow(ns: Namespace, image):
    """SimpleITK's CurvatureFlow, 5 iterations of 0.05 (CPU only: on CUDA on a host copy)."""
    import SimpleITK as sitk

    return sitk.CurvatureFlow(sitk.GetImageFromArray(gpuimg.to_numpy(image)), 0.05, 5)


def _simpleitk_gradient_diffusion(ns: Namespace, image):
    """SimpleITK's GradientAnisotropicDiffusion, 5 steps of 0.05 (CPU only: on CUDA on a host copy)."""
    import SimpleITK as sitk

    return sitk.GradientAnisotropicDiffusion(sitk.GetImageFromArray(gpuimg.to_numpy(image)), 0.05, 3.0, 1, 5)


def _simpleitk_curvature_diffusion(ns: Namespace, image):
    """SimpleITK's CurvatureAnisotropicDiffusion, 5 steps of 0.05 (CPU only: on CUDA on a host copy)."""
    import SimpleITK as sitk

    return sitk.CurvatureAnisotropicDiffusion(sitk.GetImageFromArray(gpuimg.to_numpy(image)), 0.05, 3.0, 1, 5)


def _unit_range(ns: Namespace, image):
    """The image scaled to [0, 1], as scikit-image's equalize_adapthist needs floats."""
    low, high = image.min(), image.max()
    return (image - low) / (high - low)


def _hounsfield(rng, shape, dtype):
    """CT-like integers [HU]: uniform from -1024 (air) to 3000 (dense bone)."""
    return rng.integers(-1024, 3000, shape, endpoint=True).astype(dtype)


def _bumpy_sphere(rng, shape, dtype):
    """Distance from the centre [voxels] plus smooth bumps of +-6 voxels: a closed, wavy surface at
    level ``_SPHERE_LEVEL`` (a radius of about 0.3 of the side)."""
    axes = [np.linspace(-1.0, 1.0, n, dtype=dtype) for n in shape]
    z, y, x = np.meshgrid(*axes, indexing="ij", sparse=True)
    radius = np.sqrt(z * z + y * y + x * x) * (shape[0] / 2)
    bumps = 6.0 * np.sin(5 * z + rng.uniform(0, 6)) * np.cos(4 * y) * np.sin(3 * x + 1)
    return (radius + bumps).astype(dtype)


_SPHERE_LEVEL = 80.0


def _bumpy_ball(rng, shape, dtype):
    """The mask inside :func:`_bumpy_sphere`'s surface: a wavy ball of about 0.3 of the side."""
    return (_bumpy_sphere(rng, shape, "float32") < _SPHERE_LEVEL).astype(dtype)


def _skimage_mesh_measures(ns: Namespace, mask):
    """scikit-image's marching cubes of the zero-padded mask at level 0.5, its mesh area and the
    signed-tetrahedra volume of its faces (on a host copy on CUDA)."""
    padded = np.pad(_on_host(ns, mask), 1).astype(np.float32)
    verts, faces, _, _ = skimage.measure.marching_cubes(padded, 0.5)
    a, b, c = (verts[faces[:, k]].astype(np.float64) for k in range(3))
    volume = abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0
    return volume, skimage.measure.mesh_surface_area(verts, faces)


def _circle_edges(rng, shape, dtype):
    """An edge image: 12 drawn circles of radius 15 to 60 and 1% scattered edge pixels."""
    edges = rng.random(shape) < 0.01
    for _ in range(12):
        centre = rng.integers(0, shape[0], 2)
        edges[skimage.draw.circle_perimeter(*centre, int(rng.integers(15, 60)), shape=shape)] = True
    return edges.astype(dtype)


_HOUGH_RADII = np.arange(20, 60, 10)


def _on_host(ns: Namespace, image):
    """The peer of an operation cuCIM lacks: scikit-image, on a host copy on CUDA (timed with it)."""
    return gpuimg.to_numpy(image)


OPERATIONS = [
    Operation(
        name="gradient_magnitude",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.sobel x3 + magnitude",
        peer=_sobel_magnitude,
        ours=gpuimg.edges.gradient_magnitude,
    ),
    Operation(
        name="median_filter_3",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "cupyx median_filter" if ns.device == "cuda" else "SimpleITK.Median radius 1",
        peer=_simpleitk_median,
        ours=lambda image: gpuimg.preprocess.median_filter(image, 3),
    ),
    Operation(
        name="gaussian_filter",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.gaussian_filter",
        peer=lambda ns, image: ns.ndi.gaussian_filter(image, 2.0),
        ours=lambda image: gpuimg.preprocess.gaussian_filter(image, 2.0),
    ),
    Operation(
        name="mean_filter",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.uniform_filter",
        peer=lambda ns, image: ns.ndi.uniform_filter(image, 5),
        ours=lambda image: gpuimg.preprocess.mean_filter(image, 5),
    ),
    Operation(
        name="bilateral_filter",
        shape=(128, 128, 128),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.Bilateral (CPU)",
        peer=_simpleitk_bilateral,
        ours=lambda image: gpuimg.preprocess.bilateral_filter(image, 1.0, 50.0, range_samples=100),
    ),
    Operation(
        name="bilateral_exact",
        shape=(128, 128, 128),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.Bilateral (CPU)",
        peer=_simpleitk_bilateral,
        ours=lambda image: gpuimg.preprocess.bilateral_filter(image, 1.0, 50.0),
    ),
    Operation(
        name="curvature_flow",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.CurvatureFlow (CPU)",
        peer=_simpleitk_curvature_flow,
        ours=lambda image: gpuimg.preprocess.curvature_flow(image, iterations=5, time_step=0.05),
    ),
    Operation(
        name="gradient_diffusion",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.GradientAnisotropicDiffusion",
        peer=_simpleitk_gradient_diffusion,
        ours=lambda image: gpuimg.preprocess.anisotropic_diffusion(image, iterations=5, time_step=0.05),
    ),
    Operation(
        name="curvature_diffusion",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.CurvatureAnisotropicDiffusion",
        peer=_simpleitk_curvature_diffusion,
        ours=lambda image: gpuimg.preprocess.anisotropic_diffusion(
            image, iterations=5, time_step=0.05, method="curvature"
        ),
    ),
    Operation(
        name="equalize_hist",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ski.__name__}.exposure.equalize_hist",
        peer=lambda ns, image: ns.ski.exposure.equalize_hist(image),
        ours=gpuimg.preprocess.equalize_hist,
    ),
    Operation(
        name="integer_counts",
        shape=(96, 256, 256),
        dtype="int16",
        peer_name=lambda ns: f"{ns.xp.__name__}.bincount(image.ravel() - image.min())",
        peer=lambda ns, image: ns.xp.bincount(image.ravel() - image.min()),
        ours=gpuimg.preprocess.equalize.integer_counts,
        build=_hounsfield,
    ),
    # The peer gets the image already scaled to [0, 1] (its float input range); ours scales inside.
    Operation(
        name="clahe",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ski.__name__}.exposure.equalize_adapthist",
        peer=lambda ns, image: ns.ski.exposure.equalize_adapthist(_unit_range(ns, image)),
        ours=gpuimg.preprocess.clahe,
    ),
]


def _sitk_canny(ns: Namespace, image):
    """SimpleITK's Canny (CPU only: a CuPy input is copied to the host first)."""
    import SimpleITK as sitk

    itk_image = sitk.GetImageFromArray(gpuimg.to_numpy(image))
    return sitk.CannyEdgeDetection(itk_image, 5.0, 15.0, [1.0] * 3, [0.01] * 3)


def _scipy_label(ns: Namespace, image):
    """ndimage.label (26-connected) with what gpuimg's label also returns: sizes and boxes."""
    labels, count = ns.ndi.label(image > 0, ns.xp.ones((3, 3, 3), dtype=bool))
    sizes = ns.xp.bincount(labels.ravel(), minlength=count + 1)
    return labels, sizes, ns.ndi.find_objects(labels) if hasattr(ns.ndi, "find_objects") else None


OPERATIONS += [
    # The same edges as the peer's (ITK's method, variance 1 voxel², zero-flux boundary).
    Operation(
        name="canny_3d",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.CannyEdgeDetection",
        peer=_sitk_canny,
        ours=lambda image: gpuimg.edges.canny(image, 1.0, 5.0, 15.0, mode="nearest", method="zero_crossing"),
    ),
    # scikit-image's method in 3D; ITK's thresholds 5 and 15 on its central-difference magnitude are
    # 32 times these on the Sobel magnitude.
    Operation(
        name="canny_3d_sobel",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.CannyEdgeDetection",
        peer=_sitk_canny,
        ours=lambda image: gpuimg.edges.canny(image, 1.0, 32 * 5.0, 32 * 15.0),
    ),
    Operation(
        name="label",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ndi.__name__}.label + bincount + find_objects",
        peer=_scipy_label,
        ours=lambda image: gpuimg.morphology.label(image > 0, 26),
    ),
    Operation(
        name="marching_cubes",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "skimage.measure.marching_cubes" + (" (host)" if ns.device == "cuda" else ""),
        peer=lambda ns, image: skimage.measure.marching_cubes(_on_host(ns, image), _SPHERE_LEVEL),
        ours=lambda image: gpuimg.contours.marching_cubes(image, _SPHERE_LEVEL),
        build=_bumpy_sphere,
    ),
    Operation(
        name="binary_mesh_measures",
        shape=(256, 256, 256),
        dtype="bool",
        peer_name=lambda ns: "skimage MC + mesh measures" + (" (host)" if ns.device == "cuda" else ""),
        peer=_skimage_mesh_measures,
        ours=lambda mask: gpuimg.contours.binary_mesh_measures(mask),
        build=_bumpy_ball,
    ),
    Operation(
        name="hough_circle",
        shape=(512, 512),
        dtype="bool",
        peer_name=lambda ns: "skimage.transform.hough_circle" + (" (host)" if ns.device == "cuda" else ""),
        peer=lambda ns, image: skimage.transform.hough_circle(_on_host(ns, image), _HOUGH_RADII),
        ours=lambda image: gpuimg.contours.hough_circle(image, _HOUGH_RADII),
        build=_circle_edges,
    ),
]


def _kmeans_voxels(ns: Namespace, image):
    """k-means of the voxel intensities with the device's estimator (scikit-learn or cuML), k=4, n_init=1."""
    kmeans = importlib.import_module(f"{ns.ml.__name__}.cluster").KMeans(
        n_clusters=4, n_init=1, random_state=0
    )
    return kmeans.fit_predict(image.reshape(-1, 1))


OPERATIONS.append(
    Operation(
        name="segment_kmeans",
        shape=(256, 256, 256),
        dtype="float32",
        peer_name=lambda ns: f"{ns.ml.__name__}.cluster.KMeans(k=4, n_init=1)",
        peer=_kmeans_voxels,
        ours=lambda image: gpuimg.ml.segment_kmeans(image, 4),
    )
)


def _sitk_image(volume: Volume, data=None):
    """A Volume (on the host, or copied there) as a SimpleITK image in the same patient (LPS)
    coordinates: ITK's axes are x, y, z, so the spacing and the direction's columns are reversed."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(gpuimg.to_numpy(volume.data if data is None else data))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(v) for v in np.asarray(volume.direction)[:, ::-1].ravel()))
    return image


def _sitk_onto(image, reference: Volume, interpolator):
    """``sitk.Resample(image, reference_image, sitk.Transform(), interpolator, 0.0)`` given the reference's
    grid itself (size, origin, spacing, direction), so that its voxels, which Resample does not read, are
    not converted in the peer's time."""
    import SimpleITK as sitk

    return sitk.Resample(
        image,
        [int(n) for n in reference.shape[::-1]],
        sitk.Transform(),
        interpolator,
        tuple(float(o) for o in reference.origin),
        tuple(float(s) for s in reference.spacing[::-1]),
        tuple(float(v) for v in np.asarray(reference.direction)[:, ::-1].ravel()),
        0.0,
    )


def _sitk_resample(ns: Namespace, pair, interpolator: str = "sitkLinear"):
    """SimpleITK's Resample of the Volume onto the reference's grid: identity transform, default pixel
    0 (on a host copy on CUDA)."""
    import SimpleITK as sitk

    volume, reference = pair
    return _sitk_onto(_sitk_image(volume), reference, getattr(sitk, interpolator))


def _sitk_resample_mask(ns: Namespace, pair):
    """SimpleITK's linear Resample of the 0/1 mask (as float32) onto the reference's grid, then >= 0.5."""
    import SimpleITK as sitk

    mask, reference = pair
    inside = _sitk_image(mask, gpuimg.to_numpy(mask.data).astype(np.float32))
    return _sitk_onto(inside, reference, sitk.sitkLinear) >= 0.5


def _sitk_dicom_orient(ns: Namespace, pair):
    """SimpleITK's DICOMOrient to LPS: the rows reversed back onto the reference's grid (which is LPS:
    identity direction in ITK's axes)."""
    import SimpleITK as sitk

    return sitk.DICOMOrient(_sitk_image(pair[0]), "LPS")


def _turned(axis, angle: float) -> np.ndarray:
    """A rotation by ``angle`` [rad] about the unit ``axis`` (Rodrigues)."""
    k = np.asarray(axis, float) / np.linalg.norm(axis)
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross


def _agrees(ours, peer, exact: bool) -> None:
    """Check the row's two results once, on the host, where it is built: gpuimg's Volume against
    SimpleITK's image, equal or (interpolated in float32) within 1e-6 of the values' range."""
    import SimpleITK as sitk

    ours, peer = gpuimg.to_numpy(ours.data), sitk.GetArrayFromImage(peer)
    if exact:
        np.testing.assert_array_equal(ours, peer.astype(ours.dtype))
    else:
        # Both interpolate in float32, the weights rounded in different orders: 1.5e-5 HU at most on
        # these 4000 HU; 1e-6 of the range leaves room for other machines' rounding.
        np.testing.assert_allclose(ours, peer, rtol=0, atol=1e-6 * float(np.ptp(peer)))


def _ct_onto_turned_grid(rng, shape, dtype, order: int = 1):
    """A CT of ``shape`` voxels of (2.5, 0.9, 0.9) mm (uniform HU) and a grid of the same size and
    spacing turned by 0.1 rad about an oblique axis and shifted by a few mm, partly past the CT; the
    results of ``order`` (1: linear, 0: nearest, the same voxels as SimpleITK's) checked once."""
    ct = Volume(_hounsfield(rng, shape, dtype), spacing=(2.5, 0.9, 0.9), origin=(-115.0, -115.0, -120.0))
    turned = Volume(
        np.zeros(shape, np.float32),
        spacing=ct.spacing,
        origin=(-110.0, -118.0, -115.0),
        direction=_turned((0.2, 0.3, 1.0), 0.1) @ AXIAL,
    )
    interpolator = "sitkNearestNeighbor" if order == 0 else "sitkLinear"
    _agrees(
        gpuimg.preprocess.resample(ct, order=order, reference=turned),
        _sitk_resample(None, (ct, turned), interpolator),
        exact=order == 0,
    )
    return ct, turned


def _pet_mask_onto_ct_grid(rng, shape, dtype):
    """An ellipsoid mask on a PET grid of ``shape`` voxels of (3, 4, 4) mm, and a CT grid of 96 x 256 x
    256 voxels of (2.5, 1.9, 1.9) mm over about the same field, its centres off the PET's."""
    z, y, x = (np.arange(n) - n / 2 for n in shape)
    axes = np.array(shape) * (0.25, 0.2, 0.15)
    inside = (z[:, None, None] / axes[0]) ** 2 + (y[:, None] / axes[1]) ** 2 + (x / axes[2]) ** 2 <= 1
    pet = Volume(inside.astype(dtype), spacing=(3.0, 4.0, 4.0), origin=(-254.0, -254.0, -118.5))
    ct = Volume(
        np.zeros((96, 256, 256), np.float32), spacing=(2.5, 1.9, 1.9), origin=(-242.3, -242.3, -118.75)
    )
    _agrees(
        gpuimg.preprocess.resample_mask(pet, reference=ct), _sitk_resample_mask(None, (pet, ct)), exact=True
    )
    return pet, ct


def _ct_rows_up(rng, shape, dtype):
    """A CT of ``shape`` voxels stored with its rows bottom-up, as dcm2niix writes a DICOM series (origin
    at the last row, y reversed), and the DICOM series' own grid (LPS axes)."""
    dicom = Volume(np.zeros(shape, np.float32), spacing=(2.5, 0.9, 0.9), origin=(-115.0, -115.0, -120.0))
    rows_up = Volume(
        _hounsfield(rng, shape, dtype)[:, ::-1].copy(),
        spacing=dicom.spacing,
        origin=(-115.0, -115.0 + (shape[1] - 1) * 0.9, -120.0),
        direction=AXIAL @ np.diag([1.0, -1.0, 1.0]),
    )
    oriented = _sitk_dicom_orient(None, (rows_up, dicom))
    grid = _sitk_image(dicom)
    if not (
        np.allclose(oriented.GetOrigin(), grid.GetOrigin())
        and np.allclose(oriented.GetDirection(), grid.GetDirection())
    ):
        raise AssertionError("DICOMOrient's grid is not the reference's: the peer would not compare")
    _agrees(gpuimg.preprocess.resample(rows_up, reference=dicom), oriented, exact=True)
    return rows_up, dicom


OPERATIONS += [
    Operation(
        name="resample_reference",
        shape=(96, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.Resample linear" + (" (host)" if ns.device == "cuda" else ""),
        peer=_sitk_resample,
        ours=lambda pair: gpuimg.preprocess.resample(pair[0], reference=pair[1]),
        build=_ct_onto_turned_grid,
    ),
    Operation(
        name="resample_reference_nearest",
        shape=(96, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.Resample nearest" + (" (host)" if ns.device == "cuda" else ""),
        peer=lambda ns, pair: _sitk_resample(ns, pair, "sitkNearestNeighbor"),
        ours=lambda pair: gpuimg.preprocess.resample(pair[0], order=0, reference=pair[1]),
        build=lambda rng, shape, dtype: _ct_onto_turned_grid(rng, shape, dtype, order=0),
    ),
    Operation(
        name="resample_mask_ref",
        shape=(80, 128, 128),
        dtype="bool",
        peer_name=lambda ns: "SimpleITK.Resample linear >= 0.5" + (" (host)" if ns.device == "cuda" else ""),
        peer=_sitk_resample_mask,
        ours=lambda pair: gpuimg.preprocess.resample_mask(pair[0], reference=pair[1]),
        build=_pet_mask_onto_ct_grid,
    ),
    Operation(
        name="resample_rows_up",
        shape=(96, 256, 256),
        dtype="float32",
        peer_name=lambda ns: "SimpleITK.DICOMOrient LPS" + (" (host)" if ns.device == "cuda" else ""),
        peer=_sitk_dicom_orient,
        ours=lambda pair: gpuimg.preprocess.resample(pair[0], reference=pair[1]),
        build=_ct_rows_up,
    ),
]
