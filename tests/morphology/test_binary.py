"""gpuimg.morphology.binary against scipy.ndimage and scikit-image with the same footprint array."""

import inspect
import re
import subprocess
import sys
import warnings

import dask.array as da
import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg._support import MAX_WINDOW
from gpuimg.errors import ParameterError
from gpuimg.morphology import closing, dilate, erode, footprint, opening

OPS = {
    "erode": (erode, "erosion"),
    "dilate": (dilate, "dilation"),
    "opening": (opening, "opening"),
    "closing": (closing, "closing"),
}


def test_footprint_rule_by_physical_distance():
    ball = footprint("ball", radius_mm=2.0, spacing=(2.0, 1.0, 1.0))
    assert ball.shape == (3, 5, 5)
    offsets = np.argwhere(ball) - [1, 2, 2]
    distances = np.sqrt(((offsets * [2.0, 1.0, 1.0]) ** 2).sum(1))
    assert distances.max() <= 2.0
    # every offset of the box within 2 mm is in
    z, y, x = np.mgrid[-1:2, -2:3, -2:3]
    np.testing.assert_array_equal(ball, np.sqrt((2 * z) ** 2 + y**2 + x**2) <= 2.0)
    np.testing.assert_array_equal(footprint("ball", 1.0), ndi.generate_binary_structure(3, 1))
    np.testing.assert_array_equal(footprint("cube", 1.0), np.ones((3, 3, 3), bool))
    cross = footprint("cross", radius_mm=2.0, spacing=(1.0, 1.0, 1.0))
    assert cross.sum() == 13 and cross[2, 2].all() and not cross[1, 1, 1]
    assert footprint("ball", radius_mm=0.4, spacing=0.5).sum() == 1
    # radius in voxels: the ball of radius 2 voxels, whatever the spacing
    z, y, x = np.mgrid[-2:3, -2:3, -2:3]
    np.testing.assert_array_equal(footprint("ball", 2), z**2 + y**2 + x**2 <= 4)
    np.testing.assert_array_equal(footprint("ball", radius_mm=4.0, spacing=2.0), footprint("ball", 2))


@pytest.mark.parametrize("ndim", [0, 1, 4, 2.0, True, "a", None])
def test_footprint_of_a_number_of_axes_other_than_2_or_3_is_refused(ndim):
    # ndim=0 gave a bool scalar, not an array; ndim="a" and 2.0 a TypeError from list repetition
    with pytest.raises(gpuimg.ParameterError, match=rf"^ndim={re.escape(repr(ndim))} must be 2 or 3: "):
        footprint("ball", 1, ndim=ndim)


@pytest.mark.parametrize("ndim", [2, np.int64(2), 3, np.uint8(3)])
def test_footprint_of_2_or_3_axes_of_any_integer_type(ndim):
    np.testing.assert_array_equal(
        footprint("ball", 1, ndim=ndim), ndi.generate_binary_structure(int(ndim), 1)
    )
    np.testing.assert_array_equal(
        footprint("cross", 1, ndim=ndim), ndi.generate_binary_structure(int(ndim), 1)
    )
    np.testing.assert_array_equal(
        footprint("cube", 1, ndim=ndim), ndi.generate_binary_structure(int(ndim), ndim)
    )


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("shape", ["ball", "cube", "cross"])
def test_binary_in_constant_mode_equals_scipy_binary(rng, name, shape):
    mask = ndi.gaussian_filter(rng.random((14, 16, 18)), 1.0) > 0.5
    spacing = (2.0, 0.8, 0.8)
    ours, scipy_name = OPS[name]
    fp = footprint(shape, radius_mm=2.0, spacing=spacing)
    got = ours(mask, shape, radius_mm=2.0, spacing=spacing, mode="constant")
    assert got.dtype == bool
    np.testing.assert_array_equal(got, getattr(ndi, f"binary_{scipy_name}")(mask, structure=fp))


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("cval", [0.0, 1.0])
def test_binary_modes_equal_scikit_image_and_scipy_grey(rng, name, mode, cval):
    """A bool image's voxels past the edges follow ``mode`` as in grey morphology, scikit-image's
    rule (regression: binary morphology ignored ``mode``, with nothing outside the image, so the
    closing of a mask touching the image's faces lost voxels there)."""
    ours, scipy_name = OPS[name]
    for shape, radius in (((9, 11, 12), 1.0), ((3, 2, 7), (2.0, 1.0, 2.0)), ((1, 6, 5), 1.0)):
        mask = rng.random(shape) > 0.4
        fp = footprint("ball", radius)
        got = ours(mask, fp, mode=mode, cval=cval)
        assert got.dtype == bool
        want = getattr(ndi, f"grey_{scipy_name}")(mask, footprint=fp, mode=mode, cval=cval)
        np.testing.assert_array_equal(got, want)
        skimage_op = getattr(pytest.importorskip("skimage.morphology"), scipy_name)
        if "mode" in inspect.signature(skimage_op).parameters:
            np.testing.assert_array_equal(got, skimage_op(mask, fp, mode=mode, cval=cval))


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize(("shape", "radius"), [("ball", 1.5), ("ball", 4.5), ("cube", 1.5), ("cross", 1.5)])
@pytest.mark.parametrize("cval", [-1024.0, -0.5, 0.5, 0.999, 2.0, 255.0])
def test_a_bool_mask_border_from_a_cval_other_than_0_or_1_as_scipy_grey(name, shape, radius, cval):
    """SciPy's grey operation takes ``cval`` into the minimum or maximum of a bool mask and casts
    the result to bool, truncating: the border is foreground from 1 on, background below (a
    pipeline's cval=-1024, air in HU, given to a mask operation too). Regression: ``bool(cval)``
    made every non-zero cval foreground, so dilate(cval=-1024) grew a frame along every face
    (33 voxels for a 3 x 3 box around one voxel of a 7 x 7 image, SciPy 9). Compared with SciPy
    where its cast is defined (cval in [0, 256); a negative cval in dilation, where the maximum is
    the mask's 0 or 1), else with SciPy at cval 0 (a negative cval in erosion: the cast of a
    negative float to bool is undefined in C)."""
    ours, scipy_name = OPS[name]
    mask = np.zeros((9, 10, 11), bool)
    mask[:4, :5, :3] = True  # touches three faces
    mask[6, 6, 6] = True
    fp = footprint(shape, radius)  # a ball of radius 4.5 (389 voxels) goes through the distance transform
    got = ours(mask, shape, radius, mode="constant", cval=cval)
    defined = cval >= 0 or scipy_name == "dilation"
    want = getattr(ndi, f"grey_{scipy_name}")(
        mask, footprint=fp, mode="constant", cval=cval if defined else 0.0
    )
    np.testing.assert_array_equal(got, want)
    if cval < 0:
        want_zero = getattr(ndi, f"grey_{scipy_name}")(mask, footprint=fp, mode="constant", cval=0.0)
        np.testing.assert_array_equal(got, want_zero)


def test_a_mask_touching_the_faces_keeps_them(rng):
    """Closed forms: closing is extensive and opening anti-extensive (Serra), and a box spanning the
    image along z keeps every slice under opening (regression: both lost the first and last slice)."""
    box = np.zeros((6, 9, 9), bool)
    box[:, 2:7, 2:7] = True
    np.testing.assert_array_equal(opening(box, "cube", 1), box)
    np.testing.assert_array_equal(closing(box, "ball", 1), box)
    np.testing.assert_array_equal(erode(np.ones((4, 5, 6), bool), "ball", 2), np.ones((4, 5, 6), bool))
    mask = ndi.gaussian_filter(rng.random((10, 12, 14)), 1.0) > 0.45
    assert mask[0].any() and mask[-1].any()
    assert (closing(mask, "ball", 2) >= mask).all()
    assert (opening(mask, "ball", 2) <= mask).all()


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("mode", ["reflect", "nearest", "constant"])
def test_grey_equals_scipy(rng, name, mode):
    image = rng.integers(-1000, 2000, (12, 13, 14)).astype(np.int16)
    ours, scipy_name = OPS[name]
    fp = footprint("ball", 1.5)
    got = ours(image, "ball", 1.5, mode=mode, cval=5.0)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(
        got, getattr(ndi, f"grey_{scipy_name}")(image, footprint=fp, mode=mode, cval=5.0)
    )


def test_on_real_ct(ct_slice, ct_crop):
    crop, spacing = ct_crop
    fp = footprint("ball", radius_mm=3.0, spacing=spacing)
    np.testing.assert_array_equal(
        erode(crop, "ball", radius_mm=3.0, spacing=spacing), ndi.grey_erosion(crop, footprint=fp)
    )
    body = crop > -300
    np.testing.assert_array_equal(
        closing(body, "ball", radius_mm=3.0, spacing=spacing, mode="constant"),
        ndi.binary_closing(body, structure=fp),
    )
    np.testing.assert_array_equal(
        closing(body, "ball", radius_mm=3.0, spacing=spacing), ndi.grey_closing(body, footprint=fp)
    )
    fp2 = footprint("cube", 2.0, ndim=2)
    np.testing.assert_array_equal(dilate(ct_slice, "cube", 2.0), ndi.grey_dilation(ct_slice, footprint=fp2))


@pytest.mark.parametrize("name", list(OPS))
def test_dask_with_uneven_chunks_equals_whole_volume(rng, name):
    da = pytest.importorskip("dask.array")
    ours, _ = OPS[name]
    image = rng.normal(0, 100, (21, 17, 23)).astype(np.float32)
    mask = image > 30
    chunks = ((7, 4, 10), (17,), (9, 5, 9))
    for data in (image, mask):
        lazy = ours(da.from_array(data, chunks=chunks), "ball", radius_mm=2.0, spacing=(1.0, 0.7, 0.7))
        assert isinstance(lazy, da.Array)
        np.testing.assert_array_equal(
            lazy.compute(), ours(data, "ball", radius_mm=2.0, spacing=(1.0, 0.7, 0.7))
        )


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("mode", ["wrap", "reflect"])
def test_dask_binary_modes_equal_scipy_grey(rng, name, device, mode, request):
    """The chunks of a Dask mask see past the volume's edges what ``mode`` says, and only there
    (regression, earlier: with mode="wrap" chunks were given the opposite edge as their halo while
    the whole mask's operation had nothing outside)."""
    da = pytest.importorskip("dask.array")
    ours, scipy_name = OPS[name]
    mask = rng.random((9, 10, 11)) > 0.5
    mask[..., :2], mask[..., -1] = False, True
    mask[:2, 3:7, 3:8] = mask[-1, 3:7, 3:8] = True
    chunks = ((4, 5), (10,), (6, 5))
    lazy = da.from_array(mask, chunks=chunks)
    if device == "cuda":
        lazy = lazy.map_blocks(request.getfixturevalue("emulated_cuda"))
    got = ours(lazy, "cube", 1, mode=mode).compute()
    want = getattr(ndi, f"grey_{scipy_name}")(mask, footprint=np.ones((3, 3, 3), bool), mode=mode)
    np.testing.assert_array_equal(gpuimg.to_numpy(got), want)


def test_radius_is_voxels_and_radius_mm_uses_the_volume_spacing(rng):
    """The unit rule (regression: the radius was mm for a Volume, voxels for its array)."""
    volume = gpuimg.Volume(rng.random((8, 9, 10)) > 0.4, spacing=(3.0, 1.0, 1.0))
    got = dilate(volume, "ball", 2.0)
    assert isinstance(got, gpuimg.Volume)
    np.testing.assert_array_equal(got.data, dilate(volume.data, "ball", 2.0))
    in_mm = dilate(volume, "ball", radius_mm=3.0)
    want = ndi.binary_dilation(volume.data, structure=footprint("ball", (1.0, 3.0, 3.0)))
    np.testing.assert_array_equal(in_mm.data, want)


@pytest.mark.parametrize("name", list(OPS))
def test_array_footprint_as_in_scikit_image(rng, name):
    """scikit-image's habit: the footprint given as an array of 0/1 (regression: an ambiguous truth
    value error)."""
    ours, scipy_name = OPS[name]
    mask = rng.random((8, 9, 10)) > 0.5
    fp = np.ones((3, 3, 3))
    np.testing.assert_array_equal(
        ours(mask, fp, mode="constant"), getattr(ndi, f"binary_{scipy_name}")(mask, structure=fp)
    )
    np.testing.assert_array_equal(ours(mask, fp), getattr(ndi, f"grey_{scipy_name}")(mask, footprint=fp))
    image = rng.integers(0, 100, (8, 9, 10))
    np.testing.assert_array_equal(
        ours(image, fp, mode="nearest"),
        getattr(ndi, f"grey_{scipy_name}")(image, footprint=fp, mode="nearest"),
    )


@pytest.mark.parametrize(
    "fp",
    [[[0, 1, 1], [0, 1, 0], [0, 0, 0]], [[1, 1], [1, 0]], [[1, 0, 0, 1]]],
    ids=["asymmetric", "even", "even-row"],
)
def test_asymmetric_and_even_footprints_by_the_minkowski_definition(rng, fp):
    """The documented convention for a footprint not symmetric about its centre (voxel ``n // 2``
    along each axis, SciPy's): dilation is the Minkowski sum, ``out[x] = any(mask[x - b] for b in
    B)``, and erosion ``all(mask[x + b] for b in B)``, past the edges as mode "constant" with cval 0
    (for dilation) and 1 (for erosion) says; written out in NumPy here. scikit-image's differ (its
    dilation does not mirror the footprint), which the docstring says."""
    fp = np.asarray(fp, bool)
    mask = rng.random((9, 11)) < 0.5
    offsets = np.argwhere(fp) - [n // 2 for n in fp.shape]
    pad = max(fp.shape)
    padded = {value: np.pad(mask, pad, constant_values=value) for value in (False, True)}

    def shifted(value, offset):  # shifted(v, o)[x] = mask[x + o], v past the edges
        rows = slice(pad + offset[0], pad + offset[0] + mask.shape[0])
        cols = slice(pad + offset[1], pad + offset[1] + mask.shape[1])
        return padded[value][rows, cols]

    dilated = np.any([shifted(False, -o) for o in offsets], axis=0)
    eroded = np.all([shifted(True, o) for o in offsets], axis=0)
    np.testing.assert_array_equal(dilate(mask, fp.astype(np.uint8), mode="constant"), dilated)
    np.testing.assert_array_equal(erode(mask, fp.astype(np.uint8), mode="constant", cval=1.0), eroded)
    # Opening is anti-extensive and closing extensive where the edges do not add voxels to the
    # first pass's result (cval 0 for opening, 1 for closing; "reflect" would, for such a footprint).
    assert not (opening(mask, fp.astype(np.uint8), mode="constant") & ~mask).any()
    assert not (mask & ~closing(mask, fp.astype(np.uint8), mode="constant", cval=1.0)).any()


@pytest.mark.parametrize("name", list(OPS))
@pytest.mark.parametrize("mode", ["reflect", "nearest", "mirror", "wrap", "constant"])
@pytest.mark.parametrize("shape", [(0, 5, 5), (4, 0, 3), (6, 0)])
def test_an_empty_mask_gives_an_empty_mask_as_scipy_grey(name, mode, shape):
    """A mask of no voxel (a crop of an empty ROI) is returned empty, as SciPy's grey operation and
    gpuimg's own grey path return it (regression: NumPy's pad raised a bare ValueError, "can't extend
    empty axis 0 using modes other than 'constant' or 'empty'", in every mode but "constant")."""
    import dask.array as da

    ours, scipy_name = OPS[name]
    mask = np.zeros(shape, dtype=bool)
    fp = footprint("cube", ndim=len(shape))
    expected = getattr(ndi, f"grey_{scipy_name}")(mask, footprint=fp, mode=mode)
    for result in (ours(mask, "cube", mode=mode), ours(da.from_array(mask), "cube", mode=mode).compute()):
        assert result.dtype == bool
        np.testing.assert_array_equal(result, expected)
        assert result.shape == expected.shape == shape


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda x: erode(x, "disk"), "footprint='disk' is unknown"),
        (lambda x: erode(x, "ball", -1.0), "radius=-1.0 must be"),
        (lambda x: erode(x, "ball", radius_mm=1.0, spacing=(1.0, 1.0)), "one per axis (3)"),
        (lambda x: erode(x, "ball", radius_mm=1.0), "radius_mm=1.0 needs the voxel spacing"),
        (lambda x: erode(x, np.ones((3, 3))), "a 3D array of 0/1"),
        (lambda x: erode(x, np.ones((3, 3, 3)), 2), "radius and radius_mm are not used"),
        (lambda x: erode(x, mode="edge"), "mode='edge' is unknown"),
        (lambda x: erode(x[0, 0]), "must be 2D or 3D"),
    ],
)
def test_bad_input(rng, call, message):
    with pytest.raises(gpuimg.ParameterError, match=None) as caught:
        call(rng.random((5, 6, 7)))
    assert message in str(caught.value)


def _balls():
    """Radii [voxels] or [mm] with spacings [mm] whose balls have at least the voxels that go through the
    distance transform: integer radii (offsets exactly on the sphere), irrational ones, anisotropic
    CT-like spacings, a radius a rounding error below an integer."""
    from gpuimg.morphology.binary import _EDT_FROM

    cases = [
        {"radius": 5.0},
        {"radius": 6.0},
        {"radius": (3.0, 6.0, 6.0)},
        {"radius": 5 * np.sqrt(2.0)},
        {"radius": (2.5, 7.0, 4.0)},
        {"radius": 6.0 - 1e-12},
        {"radius_mm": 7.5, "spacing": (2.5, 0.78125, 0.78125)},
        {"radius_mm": 5.0, "spacing": (1.25, 0.9765625, 0.9765625)},
        {"radius_mm": (6.0, 5.0, 5.0), "spacing": (3.0, 0.7, 0.7)},
        {"radius_mm": 4.0, "spacing": (1.0, 0.5, 0.8)},
    ]
    for case in cases:
        assert footprint("ball", **case).sum() >= _EDT_FROM, case
    return cases


@pytest.mark.parametrize("name", list(OPS))
def test_large_ball_equals_scipy_and_scikit_image(rng, name):
    """A ball of 300 voxels or more goes through the distance transform (the nearest background
    voxel, or foreground for dilation, is outside the ball): bit for bit SciPy's binary operation with
    the ball as structure (mode "constant") and scikit-image's (default "reflect"), on masks of blobs
    and of noise, touching the image's faces, for integer, irrational and anisotropic radii."""
    skimage_op = getattr(pytest.importorskip("skimage.morphology"), OPS[name][1])
    ours, scipy_name = OPS[name]
    for i, case in enumerate(_balls()):
        shape = (9 + i % 4, 17, 14 + i % 3)
        mask = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.5 if i % 2 else rng.random(shape) > 0.15
        mask[0, 2:9, 3:10] = mask[:, -1, :5] = True
        fp = footprint("ball", **case)
        want = getattr(ndi, f"binary_{scipy_name}")(mask, structure=fp)
        np.testing.assert_array_equal(ours(mask, "ball", mode="constant", **case), want, err_msg=str(case))
        np.testing.assert_array_equal(ours(mask, "ball", **case), skimage_op(mask, fp), err_msg=str(case))


def test_large_ball_shell_check_equals_scipy(rng, monkeypatch):
    """The check of the ball's outer shell, for voxels whose nearest background voxel the transform's
    rounding could have got wrong, gives the same result when it has many voxels to check: with an
    error bound of 0.05 it re-checks every voxel near the sphere."""
    from gpuimg._units import voxels
    from gpuimg.morphology import binary

    monkeypatch.setattr(binary, "_EDT_ERROR", 0.05)
    for case in _balls()[:3] + _balls()[6:8]:
        mask = ndi.gaussian_filter(rng.random((12, 16, 15)), 1.0) > 0.5
        fp = footprint("ball", **case)
        radii = voxels("radius", case.get("radius"), case.get("radius_mm"), case.get("spacing"), 3)
        assert len(binary._shell(radii)) > 0  # the check has offsets to look at
        np.testing.assert_array_equal(
            erode(mask, "ball", mode="constant", **case), ndi.binary_erosion(mask, fp)
        )
        np.testing.assert_array_equal(
            dilate(mask, "ball", mode="constant", **case), ndi.binary_dilation(mask, fp)
        )


_LARGE_BALL = """
import resource, sys
import numpy as np
from gpuimg.morphology import dilate, erode, opening

kb = int(open("/proc/self/status").read().split("VmSize:")[1].split()[0])
resource.setrlimit(resource.RLIMIT_AS, ((kb + 2 * 2**20) * 1024,) * 2)  # 2 GiB more than now
box = np.zeros((40, 64, 64), bool)
box[4:36, 6:60, 5:62] = True
ops = {"erode": erode, "dilate": dilate, "opening": opening}
op = ops[sys.argv[1]]
np.save(sys.argv[2], op(box, "ball", radius_mm=20.0, spacing=(2.5, 0.8, 0.8), mode="constant"))
"""


@pytest.mark.parametrize("name", ["erode", "dilate", "opening"])
def test_a_ball_of_20_mm_in_bounded_memory(tmp_path, name):
    """A ball of 20 mm in CT spacing (2.5, 0.8, 0.8) mm, radii 8 x 25 x 25 voxels, in a process limited
    to 2 GiB more than it holds after its imports (regression: SciPy's binary erosion first tabulated
    17 x 51 x 51 x 21,000 offsets, 7.4 GB, a bare MemoryError). Closed forms for a box ``B``: a voxel is
    in its dilation by the ball when the per-axis distance [voxels] from it to ``B``,
    ``d_a = max(lo_a - p_a, 0, p_a - hi_a)``, has ``sum((d_a / r_a) ** 2) <= 1`` (the ball's rule;
    the nearest voxel of a box is clamped axis by axis); its erosion is ``B`` shrunk by ``floor(r_a)``
    voxels on each side (the ball reaches exactly that far along each axis, and no farther), and its
    opening the dilation of that erosion."""
    out = tmp_path / "got.npy"
    subprocess.run([sys.executable, "-c", _LARGE_BALL, name, str(out)], check=True, timeout=300)
    got = np.load(out)
    radii = np.array([20 / 2.5, 20 / 0.8, 20 / 0.8])
    lo, hi = np.array([4, 6, 5]), np.array([35, 59, 61])
    half = np.floor(radii + 1e-9).astype(int)
    want = {
        "dilate": _box_dilated(got.shape, lo, hi, radii),
        "erode": _box(got.shape, lo + half, hi - half),
        "opening": _box_dilated(got.shape, lo + half, hi - half, radii),
    }[name]
    assert got.sum() > 0
    np.testing.assert_array_equal(got, want)


def _box(shape, lo, hi):
    """The box of voxels from ``lo`` to ``hi`` (inclusive) in an array of ``shape``."""
    box = np.zeros(shape, bool)
    box[tuple(slice(a, b + 1) for a, b in zip(lo, hi, strict=True))] = True
    return box


def _box_dilated(shape, lo, hi, radii):
    """The box from ``lo`` to ``hi`` dilated by the ball of ``radii`` [voxels], in closed form: a voxel
    ``p`` is in it when its per-axis distance to the box, ``d_a = max(lo_a - p_a, 0, p_a - hi_a)``
    (the nearest voxel of a box is clamped axis by axis), has ``sum((d_a / r_a) ** 2) <= 1``."""
    p = np.indices(shape).reshape(len(shape), -1).T
    d = np.maximum(np.maximum(np.asarray(lo) - p, 0), p - np.asarray(hi))
    return (((d / np.asarray(radii)) ** 2).sum(1) <= 1 + 1e-9).reshape(shape)


def test_a_ball_past_the_window_limit_through_the_distance_transform():
    """A 20 mm ball at (0.6, 0.3, 0.3) mm, radii 33.3 x 66.7 x 66.7 voxels, has a box of 67 x 133 x 133
    voxels, past the 2**20 of a filter window. On the CPU a bool image's ball goes through the distance
    transform, whose time does not grow with the ball, so it is not refused (regression: "radius_mm
    gives a window of 67 x 133 x 133"): the closed forms of a box's dilation and erosion (shrunk by
    ``floor(r_a)`` voxels a side). On the CUDA device (cupyx's binary operations visit the box at every
    voxel) the limit stays."""
    spacing = (0.6, 0.3, 0.3)
    radii = np.array([20 / s for s in spacing])
    half = np.floor(radii + 1e-9).astype(int)
    assert np.prod(2 * half + 1) > MAX_WINDOW
    small = _box((12, 20, 20), (4, 6, 7), (7, 12, 11))
    got = dilate(small, "ball", radius_mm=20.0, spacing=spacing, mode="constant")
    np.testing.assert_array_equal(got, _box_dilated(small.shape, (4, 6, 7), (7, 12, 11), radii))
    lo, hi = np.array([1, 2, 3]), 2 * half + [1, 2, 3] + [1, 2, 0]  # 2 x 3 x 1 voxels left
    big = _box(tuple(hi + 2), lo, hi)
    got = erode(big, "ball", radius_mm=20.0, spacing=spacing, mode="constant")
    np.testing.assert_array_equal(got, _box(big.shape, lo + half, hi - half))
    assert got.sum() == 2 * 3 * 1


def test_a_ball_past_the_window_limit_is_refused_on_the_cuda_device(emulated_cuda):
    mask = emulated_cuda(_box((12, 20, 20), (4, 6, 7), (7, 12, 11)))
    with pytest.raises(ParameterError, match="radius_mm gives a window of 67 x 133 x 133"):
        dilate(mask, "ball", radius_mm=20.0, spacing=(0.6, 0.3, 0.3))


@pytest.mark.parametrize("image", ["bool", "float"])
def test_a_cube_past_the_window_limit_through_minimum_and_maximum_filters(rng, image):
    """The cube of radius 70, 141**3 voxels, past the 2**20 of a filter window: on the CPU a box goes
    through SciPy's minimum and maximum filters one axis at a time, for bool and grey images, in time
    that does not grow with it, so it is not refused (regression: "radius gives a window"). Against
    SciPy's grey_erosion and grey_dilation of ``size`` 141 (mode "nearest")."""
    values = rng.random((6, 150, 7))
    values = values > 0.5 if image == "bool" else values
    for ours, theirs in [(erode, ndi.grey_erosion), (dilate, ndi.grey_dilation)]:
        got = ours(values, "cube", 70, mode="nearest")
        np.testing.assert_array_equal(got, theirs(values, size=(141, 141, 141), mode="nearest"))


def test_scipy_footprint_table_within_the_memory_budget(rng, monkeypatch):
    """SciPy's binary erosion by the cross of radius 15 tabulates 31**3 x 91 offsets of 8 bytes
    (21.7 MB): over a budget of 10 MB, a MemoryBudgetError that names the radius, before it allocates
    (regression: nothing checked it; a ball of 20 voxels asked for 19 GB, a bare MemoryError)."""
    monkeypatch.setenv("GPUIMG_MAX_BYTES", "10M")
    mask = rng.random((20, 20, 20)) > 0.3
    with pytest.raises(gpuimg.MemoryBudgetError, match="radius"):
        erode(mask, "cross", 15)
    np.testing.assert_array_equal(  # 13 x 13 x 13 x 37: 0.6 MB
        erode(mask, "cross", 6, mode="constant"), ndi.binary_erosion(mask, footprint("cross", 6))
    )


def _box_erosion(mask, sides):
    """Erosion by a box of odd ``sides`` with nothing outside the image, by its definition: a voxel
    stays when its box holds no background voxel, counted by a summed-volume table."""
    half = [s // 2 for s in sides]
    background = np.pad(~mask, [(h + 1, h) for h in half], constant_values=True).astype(np.int64)
    table = background.cumsum(0).cumsum(1).cumsum(2)
    z, y, x = (np.arange(n)[(slice(None),) + (None,) * (2 - a)] for a, n in enumerate(mask.shape))
    count = 0
    for corner in np.ndindex(2, 2, 2):
        at = [i + (s if c else 0) for i, s, c in zip((z, y, x), sides, corner, strict=True)]
        count = count + (-1) ** (3 - sum(corner)) * table[at[0], at[1], at[2]]
    return count == 0


def test_a_large_cube_by_its_definition(rng):
    """The cube of radius 15 (31**3 voxels; SciPy's table would be 31**6 x 8 bytes, 7.1 GB) and boxes
    given as arrays of ones: erosion by the definition (no background voxel in the box), dilation as
    the erosion of the complement, and bit for bit SciPy's binary operations and scikit-image's."""
    mask = ndi.gaussian_filter(rng.random((36, 40, 38)), 2.0) > 0.45
    mask[1:34, 3:36, 2:35] = True  # a solid 33**3 block: the erosion keeps its 3**3 centre whatever the seed
    got = erode(mask, "cube", 15, mode="constant")
    np.testing.assert_array_equal(got, _box_erosion(mask, (31, 31, 31)))
    assert got.any()
    np.testing.assert_array_equal(dilate(mask, "cube", 15, mode="constant"), ~_box_erosion(~mask, (31,) * 3))
    np.testing.assert_array_equal(
        erode(mask, "cube", (2, 7, 4), mode="constant"), _box_erosion(mask, (5, 15, 9))
    )
    skimage = pytest.importorskip("skimage.morphology")
    for name, (ours, scipy_name) in OPS.items():
        for fp in (np.ones((3, 5, 7)), np.ones((1, 9, 1), bool)):
            want = getattr(ndi, f"binary_{scipy_name}")(mask, structure=fp)
            np.testing.assert_array_equal(ours(mask, fp, mode="constant"), want, err_msg=name)
            np.testing.assert_array_equal(
                ours(mask, fp), getattr(skimage, scipy_name)(mask, fp), err_msg=name
            )


@pytest.mark.parametrize("name", list(OPS))
def test_large_ball_on_the_cuda_device_and_in_dask_chunks(rng, name, emulated_cuda):
    """A ball of 515 voxels on the (emulated) CUDA device, and in uneven Dask chunks on the CPU,
    equals scikit-image's operation on the whole mask."""
    da = pytest.importorskip("dask.array")
    skimage_op = getattr(pytest.importorskip("skimage.morphology"), OPS[name][1])
    ours, _ = OPS[name]
    mask = ndi.gaussian_filter(rng.random((12, 14, 13)), 1.0) > 0.5
    want = skimage_op(mask, footprint("ball", 5))
    np.testing.assert_array_equal(gpuimg.to_numpy(ours(emulated_cuda(mask), "ball", 5)), want)
    lazy = ours(da.from_array(mask, chunks=((5, 7), (14,), (6, 7))), "ball", 5)
    np.testing.assert_array_equal(lazy.compute(), want)


@pytest.mark.parametrize("op", ["erode", "dilate", "opening", "closing"])
def test_grey_morphology_of_an_image_holding_nan_is_refused(op):
    # SciPy's minimum and maximum filters compare a window's voxels in order, so a window holding NaN
    # gives neither NaN nor the extreme of its other voxels: erode returned such values silently.
    rng = np.random.default_rng(3)
    image = rng.normal(size=(7, 12, 11))
    image[rng.random(image.shape) < 0.05] = np.nan
    fp = np.ones((3, 3, 3), bool)
    scipy_erosion = ndi.grey_erosion(image, footprint=fp, mode="reflect")
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(image, 1, mode="symmetric"), (3, 3, 3))
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
        by_nan = np.min(windows, axis=(3, 4, 5))  # NaN wherever a window holds one
        by_others = np.nanmin(windows, axis=(3, 4, 5))  # NaN left out
    # SciPy follows neither rule: its result is undefined, so ours is refused
    assert not np.array_equal(scipy_erosion, by_nan, equal_nan=True)
    assert not np.array_equal(scipy_erosion, by_others, equal_nan=True)
    func = getattr(gpuimg.morphology, op)
    with pytest.raises(ParameterError, match=r"holds \d+ NaN voxels.*grey"):
        func(image, "cube")
    with pytest.raises(ParameterError, match="NaN voxels"):
        func(da.from_array(image, chunks=(4, 6, 6)), "cube").compute()
    # replaced as the message says, the result is SciPy's
    filled = np.where(np.isnan(image), -1024.0, image)
    scipy_op = getattr(ndi, f"grey_{OPS[op][1]}")
    np.testing.assert_array_equal(func(filled, "cube"), scipy_op(filled, footprint=fp))
