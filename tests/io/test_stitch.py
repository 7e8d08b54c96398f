"""stitch: stations cut from a known volume join back into it."""

import numpy as np
import pydicom
import pytest
from scipy import ndimage
from scipy.spatial.transform import Rotation
from traced import traced_peak

import gpuimg
from gpuimg import GeometryError, MemoryBudgetError, ParameterError, Volume
from gpuimg.datasets import ct_phantom
from gpuimg.io import read_dicom, stitch, write_dicom


def station(volume, start, stop, data=None):
    """Slices start:stop of ``volume`` as a Volume at their physical place."""
    origin = volume.affine @ [start, 0, 0, 1]
    data = volume.data[start:stop] if data is None else data
    return Volume(data, volume.spacing, origin[:3], volume.direction, volume.meta)


@pytest.fixture
def body(make_volume):
    return make_volume(shape=(20, 6, 5))


@pytest.mark.parametrize("overlap", ["mean", "first", "last"])
def test_overlapping_stations_shuffled(body, rng, overlap):
    stations = [station(body, 0, 8), station(body, 6, 15), station(body, 13, 20)]
    order = rng.permutation(3)
    joined = stitch([stations[i] for i in order], overlap=overlap)
    np.testing.assert_array_equal(joined.data, body.data)
    np.testing.assert_allclose(joined.affine, body.affine, atol=1e-9)
    assert joined.data.dtype == body.data.dtype and joined.meta["stations"] == 3


def test_overlap_rules(body):
    top = station(body, 0, 10, np.full((10, 6, 5), 10, np.int16))
    bottom = station(body, 8, 20, np.full((12, 6, 5), 21, np.int16))
    assert stitch([top, bottom], "first").data[8, 0, 0] == 10
    assert stitch([top, bottom], "last").data[8, 0, 0] == 21
    assert stitch([top, bottom], "mean").data[8, 0, 0] == 16  # rint(15.5) rounds to even
    assert stitch([top, bottom], "mean").data[10, 0, 0] == 21


def test_mean_of_bool_masks_is_the_rounded_mean(body):
    """A bool mask's overlap is the rounded mean of the stations, as for 0/1 uint8 masks (NumPy's rint
    of the mean as the reference): a station's True alone among three is False, not the union."""
    rng = np.random.default_rng(4)
    masks = [rng.random((10, 6, 5)) < 0.5 for _ in range(3)]
    stations = [station(body, start, start + 10, m) for start, m in zip((0, 4, 8), masks, strict=True)]
    joined = stitch(stations, "mean")
    total, count = np.zeros((18, 6, 5)), np.zeros((18, 1, 1))
    for start, m in zip((0, 4, 8), masks, strict=True):
        total[start : start + 10] += m
        count[start : start + 10] += 1
    expected = np.rint(total / count).astype(bool)  # 1/3 -> False, 1/2 -> False (half to even), 2/3 -> True
    assert joined.data.dtype == bool
    np.testing.assert_array_equal(joined.data, expected)
    as_uint8 = [
        station(body, start, start + 10, m.astype(np.uint8))
        for start, m in zip((0, 4, 8), masks, strict=True)
    ]
    np.testing.assert_array_equal(stitch(as_uint8, "mean").data, expected)


def test_reversed_station(body):
    lower = station(body, 0, 10)
    upper = station(body, 10, 20)
    far = upper.affine @ [9, 0, 0, 1]
    reversed_upper = Volume(upper.data[::-1], upper.spacing, far[:3], upper.direction * [-1, 1, 1])
    np.testing.assert_array_equal(stitch([lower, reversed_upper]).data, body.data)


def shifted_in_plane(volume):
    return Volume(
        volume.data, volume.spacing, np.add(volume.origin, volume.direction[:, 2] * 2.0), volume.direction
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda v: Volume(v.data, (v.spacing[0], v.spacing[1], v.spacing[2] * 1.1), v.origin, v.direction),
            "pixel spacing",
        ),
        (
            lambda v: Volume(v.data, (v.spacing[0] * 1.5, *v.spacing[1:]), v.origin, v.direction),
            "slice spacing",
        ),
        (lambda v: Volume(v.data[:, :, :4], v.spacing, v.origin, v.direction), "image size"),
        (shifted_in_plane, "in-plane position"),
        (
            lambda v: Volume(v.data, v.spacing, v.origin, v.direction[:, [0, 2, 1]] * [-1, 1, 1]),
            "orientation",
        ),
    ],
)
def test_disagreeing_in_plane_geometry_refused(body, change, words):
    with pytest.raises(GeometryError, match=f"Station 1 and station 0 differ in {words}") as info:
        stitch([station(body, 0, 10), change(station(body, 10, 20))])
    assert ("Pass resample=True" in str(info.value)) == (words != "slice spacing")
    if words == "slice spacing":  # resampling within the slice plane cannot help: refused all the same
        with pytest.raises(GeometryError, match="slice spacing"):
            stitch([station(body, 0, 10), change(station(body, 10, 20))], resample=True)
        return
    joined = stitch([station(body, 0, 10), change(station(body, 10, 20))], "first", resample=True)
    assert joined.data.dtype == np.float32 and joined.meta["resampled"] == [1]
    first = round((body.origin - np.asarray(joined.origin)) @ body.direction[:, 0] / body.spacing[0])
    # Station 0's slices lie on the target grid: copied, not interpolated.
    np.testing.assert_array_equal(joined.data[first : first + 10], body.data[:10])
    np.testing.assert_allclose(joined.direction, body.direction, atol=1e-12)


def test_gap_and_off_grid_refused(body):
    with pytest.raises(GeometryError, match=r"gap of 2 slices \("):
        stitch([station(body, 0, 8), station(body, 10, 20)])
    off = station(body, 10, 20)
    off = Volume(
        off.data, off.spacing, np.add(off.origin, off.direction[:, 0] * off.spacing[0] * 0.4), off.direction
    )
    with pytest.raises(GeometryError, match="not a whole number of slices"):
        stitch([station(body, 0, 10), off])


def test_bad_parameters(body):
    with pytest.raises(ParameterError, match="overlap='max'"):
        stitch([body], overlap="max")
    with pytest.raises(ParameterError, match="got none"):
        stitch([])


@pytest.mark.parametrize("cval", ["x", None, [1.0, 2.0], 1j])
@pytest.mark.parametrize("overlap", ["mean", "first"])
def test_cval_that_is_not_one_number_is_refused_as_by_resample(body, cval, overlap):
    """stitch's cval is refused as preprocess.resample refuses it (a ParameterError naming it): it was a
    bare ValueError (text, a list) or filled the uncovered voxels with NaN (None) without a word."""
    top = station(body, 0, 10)
    corner = Volume(np.ones((12, 2, 2)), body.spacing, (body.affine @ [8, 0, 0, 1])[:3], body.direction)
    with pytest.raises(ParameterError, match=r"cval=.* must be one real number"):
        gpuimg.preprocess.resample(body, new_spacing=2.0, mode="constant", cval=cval)
    with pytest.raises(ParameterError, match=r"cval=.* must be one real number"):
        stitch([top, corner], overlap, resample=True, cval=cval)


def one_frame_of_reference(volume):
    """``volume`` with a FrameOfReferenceUID in its meta, which write_dicom writes into every station
    cut from it (without one, each write_dicom call makes a new frame of reference)."""
    return Volume(
        volume.data,
        volume.spacing,
        volume.origin,
        volume.direction,
        {**volume.meta, "frame_of_reference_uid": pydicom.uid.generate_uid()},
    )


def test_stations_written_and_read_as_dicom(tmp_path, rng):
    """Two overlapping DICOM stations of a phantom, read back and stitched, give the phantom."""
    phantom = one_frame_of_reference(ct_phantom((20, 32, 32), seed=int(rng.integers(2**31))))
    write_dicom(station(phantom, 0, 12), tmp_path / "head")
    write_dicom(station(phantom, 9, 20), tmp_path / "body")
    stations = [read_dicom(tmp_path / name, device="cpu") for name in ("body", "head")]
    joined = stitch(stations, overlap="mean")
    np.testing.assert_array_equal(joined.data, phantom.data)
    np.testing.assert_allclose(joined.affine, phantom.affine, atol=1e-6)  # DS strings: 16 characters


def test_joined_stations_drop_the_first_stations_files(tmp_path, rng):
    """read_dicom's files of station 0 (9 files) are not the 20 joined slices': they go, with its missing
    slices; a lone station keeps its own."""
    phantom = one_frame_of_reference(ct_phantom((20, 16, 16), seed=int(rng.integers(2**31))))
    write_dicom(station(phantom, 11, 20), tmp_path / "body")
    write_dicom(station(phantom, 0, 12), tmp_path / "head")
    stations = [read_dicom(tmp_path / name, device="cpu") for name in ("body", "head")]
    joined = stitch(stations)
    assert joined.shape[0] == 20 and len(stations[0].meta["files"]) == 9
    assert "files" not in joined.meta and "missing_slices" not in joined.meta
    assert joined.meta["series_uid"] == stations[0].meta["series_uid"] and joined.meta["stations"] == 2
    assert stitch(stations[:1]).meta["files"] == stations[0].meta["files"]


def test_stations_in_different_frames_of_reference_refused(tmp_path, rng):
    """Stations whose files name different FrameOfReferenceUIDs (two acquisitions, each with its own
    origin) were joined by their positions as if in one coordinate system. Now refused, naming the
    stations of each frame; a station without a UID (an array wrapped by hand, a NIfTI) is not compared."""
    phantom = ct_phantom((20, 16, 16), seed=int(rng.integers(2**31)))
    write_dicom(station(phantom, 0, 12), tmp_path / "head")  # each write makes its own frame of reference
    write_dicom(station(phantom, 9, 20), tmp_path / "body")
    write_dicom(station(phantom, 5, 15), tmp_path / "chest")
    uids = {
        name: {str(pydicom.dcmread(f).FrameOfReferenceUID) for f in (tmp_path / name).iterdir()}
        for name in ("head", "body", "chest")
    }
    assert all(len(u) == 1 for u in uids.values()) and len(set.union(*uids.values())) == 3
    stations = [read_dicom(tmp_path / name, device="cpu") for name in ("head", "body", "chest")]
    for resample in (False, True):
        with pytest.raises(GeometryError, match="3 frames of reference") as info:
            stitch(stations, resample=resample)
        for i, name in enumerate(("head", "body", "chest")):
            assert f"station {i} in {next(iter(uids[name]))}" in str(info.value)
    same = Volume(
        stations[1].data,
        stations[1].spacing,
        stations[1].origin,
        stations[1].direction,
        {**stations[1].meta, "frame_of_reference_uid": stations[0].meta["frame_of_reference_uid"]},
    )
    with pytest.raises(GeometryError, match=r"stations 0, 1 in .*; station 2 in "):
        stitch([stations[0], same, stations[2]])
    unnamed = Volume(stations[1].data, stations[1].spacing, stations[1].origin, stations[1].direction)
    np.testing.assert_array_equal(stitch([stations[0], unnamed]).data, phantom.data)
    np.testing.assert_array_equal(stitch([stations[0], same]).data, phantom.data)


# --- resample=True: stations on different in-plane grids ---------------------------------------------


def gaussians(rng, volume, count=4):
    """``count`` random Gaussian blobs (amplitude, centre [mm], sigma [mm]) inside ``volume``."""
    index = rng.uniform(0.3, 0.7, (count, 3)) * (np.array(volume.shape) - 1)
    centres = (volume.affine @ np.column_stack([index, np.ones(count)]).T)[:3].T
    return rng.uniform(50, 200, count), centres, rng.uniform(6, 12, count)


def blobs(points, amplitudes, centres, sigmas):
    """The sum of Gaussians at ``points`` (..., 3) [mm], evaluated analytically."""
    squared = ((points[..., None, :] - centres) ** 2).sum(-1)
    return (amplitudes * np.exp(-squared / (2 * sigmas**2))).sum(-1)


def voxel_positions(volume):
    """LPS position [mm] of every voxel centre of ``volume``, shape (*volume.shape, 3)."""
    index = np.indices(volume.shape).reshape(3, -1)
    return (volume.affine[:3, :3] @ index + volume.affine[:3, 3:]).T.reshape(*volume.shape, 3)


def station_indices(volume, points):
    """Continuous voxel index (3, ...) of ``volume`` at LPS ``points`` (..., 3)."""
    inverse = np.linalg.inv(volume.affine)
    return np.moveaxis(points @ inverse[:3, :3].T + inverse[:3, 3], -1, 0)


def covering(volume, index, tolerance=1e-6):
    """Where a station covers the points of continuous ``index``: on one of its slices, within its pixels."""
    inside = np.abs(index[0] - np.rint(index[0])) < 1e-6
    inside &= (np.rint(index[0]) >= 0) & (np.rint(index[0]) <= volume.shape[0] - 1)
    for axis in (1, 2):
        inside &= (index[axis] >= -0.5 - tolerance) & (index[axis] <= volume.shape[axis] - 0.5 + tolerance)
    return inside


def smooth_stations(rng, orientation):
    """Two stations of one smooth volume (sum of Gaussians, mm) on different in-plane grids.

    Station 0: 8 slices of 40 x 36 pixels of 0.9 x 1.1 mm on a random oblique grid. Station 1 overlaps
    its last 2 slices and goes 6 further, with 30 x 44 pixels of 1.3 x 0.7 mm, its middle shifted
    in-plane by (-3.7, 5.2) mm, its rows and columns turned within the slice plane by ``orientation``.
    """
    rotation = Rotation.random(random_state=rng).as_matrix()
    row, col = rotation[:, 0], rotation[:, 1]
    reference = Volume(
        np.zeros((8, 40, 36)),
        (2.0, 0.9, 1.1),
        rng.uniform(-100, 100, 3),
        np.column_stack([np.cross(row, col), col, row]),
    )
    angle = {"same": 0.0, "rotated": 30.0, "swapped": 90.0, "reversed": -20.0}[orientation]
    c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
    col1, row1 = c * col + s * row, -s * col + c * row
    centre = (reference.affine @ [6, 19.5, 17.5, 1])[:3] - 3.7 * col + 5.2 * row  # station 1's middle
    origin = centre - 14.5 * 1.3 * col1 - 21.5 * 0.7 * row1
    other = Volume(
        np.zeros((8, 30, 44)), (2.0, 1.3, 0.7), origin, np.column_stack([np.cross(row, col), col1, row1])
    )
    if orientation == "reversed":  # stored top to bottom as well
        far = other.affine @ [7, 0, 0, 1]
        other = Volume(other.data, other.spacing, far[:3], other.direction * [-1, 1, 1])
    blob = gaussians(rng, reference)
    stations = [
        Volume(blobs(voxel_positions(v), *blob), v.spacing, v.origin, v.direction) for v in (reference, other)
    ]
    return stations, blob


ORIENTATIONS = ["same", "rotated", "swapped", "reversed"]


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_resampled_stations_match_the_analytic_volume(rng, orientation):
    stations, blob = smooth_stations(rng, orientation)
    joined = stitch(stations, resample=True, cval=-5.0)
    assert joined.shape == (14, 40, 36) and joined.data.dtype == np.float64
    assert joined.meta["resampled"] == [1]
    np.testing.assert_allclose(joined.affine, stations[0].affine, atol=1e-9)
    points = voxel_positions(joined)
    truth = blobs(points, *blob)
    other = stations[1]
    index = station_indices(other, points)
    in_other = covering(other, index)
    covered = in_other | covering(stations[0], station_indices(stations[0], points))
    in_hull = np.ones(points.shape[:3], bool)  # between station 1's pixel centres, not in the edge band
    for axis in (1, 2):
        in_hull &= (index[axis] >= 0) & (index[axis] <= other.shape[axis] - 1)
    # Bilinear interpolation of f on a grid of steps h_y, h_x errs by at most (h_y^2 max|f_uu| + h_x^2
    # max|f_vv|) / 8 (u, v the station's row and column directions); a Gaussian's second derivative along
    # any direction is at most amplitude / sigma^2. Station 0 is exact on its own grid, so every voxel
    # (station 1 alone, or the mean of both) is within this bound: 1 to 3 here, for peaks of 50 to 200 per
    # blob; the errors seen are 0.4 to 1.5, and station 1 misplaced by half a pixel errs by 6 to 19.
    amplitudes, _, sigmas = blob
    bound = (amplitudes / sigmas**2).sum() * (other.spacing[1] ** 2 + other.spacing[2] ** 2) / 8
    checked = covered & (in_hull | ~in_other)  # the edge band holds the edge pixel's value: checked below
    assert checked[8:].sum() > 300  # station 1's own slices are checked over a good part of its field
    np.testing.assert_allclose(joined.data[checked], truth[checked], rtol=0, atol=bound)
    np.testing.assert_array_equal(joined.data[~covered], -5.0)
    np.testing.assert_array_equal(joined.data[:6], stations[0].data[:6])  # station 0 alone: copied


@pytest.mark.parametrize("overlap", ["mean", "first", "last"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_resampled_stations_equal_map_coordinates(rng, orientation, overlap):
    """Each voxel: scipy's map_coordinates (linear) of every station covering it at its continuous
    index, combined by ``overlap``."""
    stations, _ = smooth_stations(rng, orientation)
    if rng.integers(2):
        stations = stations[::-1]  # station 1's grid is the target
    joined = stitch(stations, overlap, resample=True, cval=np.nan)
    points = voxel_positions(joined)
    values, masks = [], []
    for volume in stations:
        index = station_indices(volume, points)
        values.append(ndimage.map_coordinates(volume.data, index, order=1, mode="nearest"))
        masks.append(covering(volume, index))
    values, masks = np.array(values), np.array(masks)
    if overlap == "mean":
        expected = (values * masks).sum(0) / np.maximum(masks.sum(0), 1)
    else:
        pick = masks.argmax(0) if overlap == "first" else len(stations) - 1 - masks[::-1].argmax(0)
        expected = np.take_along_axis(values, pick[None], 0)[0]
    expected[~masks.any(0)] = np.nan
    # The two compute the continuous index differently (a 2D in-plane map against the inverse 4x4
    # affine): rounding of ~1e-13 voxel times gradients below 100 per voxel.
    np.testing.assert_allclose(joined.data, expected, rtol=0, atol=1e-8)


def test_resample_coverage_and_overlap_rules(body):
    """Outside a station's pixels it does not count: the other station, or cval where none covers."""
    top = station(body, 0, 10, np.full((10, 6, 5), 10.0))
    inner = Volume(  # 4 x 3 pixels from pixel (1, 1) of station 0's grid, slices 8 to 19
        np.full((12, 4, 3), 20.0), body.spacing, (body.affine @ [8, 1, 1, 1])[:3], body.direction
    )
    inside = np.zeros((6, 5), bool)
    inside[1:5, 1:4] = True
    for overlap, shared in [("mean", 15.0), ("first", 10.0), ("last", 20.0)]:
        joined = stitch([top, inner], overlap, resample=True, cval=-1024)
        assert joined.shape == body.shape and joined.meta["resampled"] == [1]
        # Linear weights summing to 1 in float64 reproduce a constant to a few ulp.
        np.testing.assert_array_equal(joined.data[:8], 10.0)
        np.testing.assert_allclose(
            joined.data[8:10], np.where(inside, shared, 10.0)[None].repeat(2, 0), atol=1e-12
        )
        np.testing.assert_allclose(
            joined.data[10:], np.where(inside, 20.0, -1024)[None].repeat(10, 0), atol=1e-12
        )


@pytest.mark.parametrize(
    ("dtypes", "expected"),
    [
        ((np.int16, np.int16), np.float32),
        ((np.uint8, np.float32), np.float32),
        ((np.int32, np.int16), np.float64),
    ],
)
def test_resample_dtype(body, dtypes, expected):
    """A float dtype, as preprocess.resample gives; stations already on the grid keep their values."""
    values = np.abs(body.data) % 200  # fits every dtype here
    stations = [
        station(body, 0, 10, values[:10].astype(dtypes[0])),
        station(body, 10, 20, values[10:].astype(dtypes[1])),
    ]
    joined = stitch(stations, resample=True)
    assert joined.data.dtype == expected and joined.meta["resampled"] == []
    np.testing.assert_array_equal(joined.data, values)


@pytest.mark.parametrize("resample", [False, True])
def test_budget_counts_the_joined_volume_in_its_own_dtype(body, monkeypatch, resample):
    """The budget check counts the joined volume's bytes in the dtype it is made in: int16 stations join
    as int16, but with resample as float32, 4 bytes a voxel (the closed form: n * rows * columns * 4)."""
    values = np.zeros((20, 6, 5), np.int16)
    stations = [station(body, 0, 12, values[:12]), station(body, 8, 20, values[8:])]
    needed = 20 * 6 * 5 * (4 if resample else 2)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed))
    joined = stitch(stations, resample=resample)
    assert joined.data.nbytes == needed
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(needed - 1))
    with pytest.raises(MemoryBudgetError, match="stitch: 2 stations spanning 20 slices"):
        stitch(stations, resample=resample)


def test_resample_converts_a_large_station_slice_by_slice(body):
    """A station of 256 x 256 pixels joined onto 32 x 32 (resample=True) is converted to float32 a slice
    at a time: the peak (tracemalloc) stays far below its float32 copy, 40 x 256 x 256 x 4 bytes = 10.5 MB,
    which was made whole; the joined volume equals the one interpolated from that whole copy (SciPy's
    affine_transform of each float32 slice, the reference)."""
    rng = np.random.default_rng(2)
    head = Volume(rng.normal(size=(40, 32, 32)).astype(np.float32), (2.0, 8.0, 8.0))
    fine = rng.integers(-1000, 1000, (40, 256, 256)).astype(np.int16)
    legs = Volume(fine, (2.0, 1.0, 1.0), (0.0, 0.0, 80.0))
    whole_copy = fine.size * 4
    joined, peak = traced_peak(lambda: stitch([head, legs], resample=True))
    assert peak < whole_copy / 3, (peak, whole_copy)  # 1.8 MB measured; 10.7 MB with the whole copy
    # Head pixel (j, i) is at 8 j, 8 i mm: legs pixel (8 j, 8 i), on its grid (no interpolation weight).
    np.testing.assert_array_equal(joined.data[40:], fine[:, ::8, ::8].astype(np.float32))
    np.testing.assert_array_equal(joined.data[:40], head.data)


def test_tilted_station_refused_even_with_resample(body):
    tilt = Rotation.from_rotvec(np.radians(3) * body.direction[:, 1]).as_matrix()
    upper = station(body, 10, 20)
    tilted = Volume(upper.data, upper.spacing, upper.origin, tilt @ upper.direction)
    for resample in (False, True):
        with pytest.raises(GeometryError, match="tilted 3 degrees") as info:
            stitch([station(body, 0, 10), tilted], resample=resample)
        assert "resample the station in 3D" in str(info.value)


def test_resample_must_be_a_bool(body):
    with pytest.raises(ParameterError, match="resample='yes'"):
        stitch([body], resample="yes")


@pytest.mark.gpu
def test_resample_on_cuda_equals_cpu(rng):
    pytest.importorskip("cupy")
    if not gpuimg.backend.cuda_available():
        pytest.skip("no usable CUDA GPU")
    stations, _ = smooth_stations(rng, "rotated")
    on_cpu = stitch(stations, resample=True)
    on_gpu = stitch([v.to("cuda") for v in stations], resample=True)
    assert on_gpu.device == "cuda"
    # cupyx and SciPy interpolate in float64 both; the order of the sums differs.
    np.testing.assert_allclose(gpuimg.to_numpy(on_gpu.data), on_cpu.data, rtol=0, atol=1e-9)


@pytest.mark.parametrize("overlap", ["mean", "first", "last"])
def test_dask_stations_are_joined_as_their_voxels(rng, overlap):
    """Stations whose data are Dask arrays (open_zarr, a lazy chain) join as their voxels do: with
    overlap="mean" NumPy's `total += data` of a Dask slab was Dask's NotImplementedError ('The out
    parameter is not fully supported')."""
    da = pytest.importorskip("dask.array")
    head = rng.integers(-1000, 1000, (6, 5, 4)).astype(np.int16)
    body = rng.integers(-1000, 1000, (7, 5, 4)).astype(np.int16)
    stations = [
        Volume(da.from_array(head, chunks=(4, 2, 4)), spacing=(2.0, 1.0, 1.0)),
        Volume(
            da.from_array(body, chunks=((3, 1, 3), (5,), (1, 3))), spacing=(2.0, 1.0, 1.0), origin=(0, 0, 8.0)
        ),
    ]
    # Body starts 8 mm (4 slices) above head's first slice: slices 4 and 5 are covered by both.
    both = {
        "mean": np.rint((head[4:].astype(np.float64) + body[:2]) / 2).astype(np.int16),
        "first": head[4:],
        "last": body[:2],
    }[overlap]
    joined = stitch(stations, overlap)
    np.testing.assert_array_equal(gpuimg.to_numpy(joined), np.concatenate([head[:4], both, body[2:]]))
    assert joined.data.dtype == np.int16
