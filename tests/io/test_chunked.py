"""gpuimg.io.chunked: a chunked volume through the preprocessing, edge and label operations into Zarr or
NIfTI, piece by piece, equals the whole-volume result; the files read back with their geometry."""

import nibabel as nib
import numpy as np
import pytest
import scipy.ndimage as ndi

import gpuimg
from gpuimg.io.chunked import GEOMETRY_ATTRIBUTE, open_zarr, write_chunked

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

SPACING, ORIGIN = (2.5, 0.8, 0.7), (-100.0, 20.0, 35.5)
#: Small, irregular chunks: every operation's halo reaches across several chunk borders.
CHUNKS = ((7, 9, 8), (6, 11, 4), (10, 12))


@pytest.fixture
def volume(rng):
    """CT-like: smooth structures of a few hundred HU (sd 300) plus noise (sd 20), float32."""
    shape = (24, 21, 22)
    smooth = ndi.gaussian_filter(rng.normal(size=shape), 2.0)
    image = smooth * (300.0 / smooth.std()) + rng.normal(0.0, 20.0, shape)
    return image.astype(np.float32)


def _pipeline(image):
    """gaussian -> median -> gradient magnitude, the chain the issue names (any device, any input)."""
    smoothed = gpuimg.preprocess.gaussian_filter(image, 1.0)
    return gpuimg.edges.gradient_magnitude(gpuimg.preprocess.median_filter(smoothed, 3))


def _reference(image):
    """The same chain in SciPy on the whole volume."""
    smoothed = ndi.median_filter(ndi.gaussian_filter(image, 1.0), 3)
    return np.sqrt(sum(ndi.sobel(smoothed, axis=a) ** 2 for a in range(3)))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_chunked_chain_to_nifti_equals_scipy_on_the_whole_volume(tmp_path, volume, suffix):
    """Equality on the whole volume covers every crop, those straddling chunk borders among them."""
    lazy = da.from_array(volume, chunks=CHUNKS)
    path = write_chunked(_pipeline(lazy), tmp_path / f"edges{suffix}", spacing=SPACING, origin=ORIGIN)
    stored = nib.load(path)
    got = np.asarray(stored.dataobj).transpose(2, 1, 0)
    assert got.dtype == np.float32
    # float32 sums in another order than SciPy's passes: a few ulp of the magnitude.
    np.testing.assert_allclose(got, _reference(volume), rtol=1e-5, atol=1e-3)
    reference = tmp_path / f"whole{suffix}"
    gpuimg.io.write_image(gpuimg.Volume(volume, spacing=SPACING, origin=ORIGIN), reference)
    np.testing.assert_allclose(stored.affine, nib.load(reference).affine, rtol=0, atol=1e-9)
    back = gpuimg.io.read_image(path, device="cpu")
    assert back.spacing == pytest.approx(SPACING) and back.origin == pytest.approx(ORIGIN)


def test_zarr_round_trip_keeps_chunks_and_geometry(tmp_path, volume):
    lazy = da.from_array(volume, chunks=(8, 7, 11))
    write_chunked(gpuimg.Volume(lazy, spacing=SPACING, origin=ORIGIN), tmp_path / "ct.zarr")
    ct = open_zarr(tmp_path / "ct.zarr")
    assert isinstance(ct, gpuimg.Volume) and isinstance(ct.data, da.Array)
    assert ct.data.chunksize == (8, 7, 11)
    assert ct.spacing == pytest.approx(SPACING) and ct.origin == pytest.approx(ORIGIN)
    np.testing.assert_array_equal(ct.data.compute(), volume)
    write_chunked(lazy, tmp_path / "plain.zarr")
    plain = open_zarr(tmp_path / "plain.zarr")
    assert isinstance(plain, da.Array)


def test_zarr_store_through_canny_and_label_equals_the_whole_volume(tmp_path, volume):
    """A Zarr store opened as a Dask array: Canny (hysteresis across chunks) and label (components
    merged across chunks), written back to Zarr, equal the in-core results (scikit-image's / SciPy's
    labelling of the same mask)."""
    write_chunked(da.from_array(volume, chunks=(8, 7, 11)), tmp_path / "ct.zarr")
    lazy = open_zarr(tmp_path / "ct.zarr")
    edges = gpuimg.edges.canny(lazy, 1.0, 20.0, 60.0, mode="nearest")
    write_chunked(edges, tmp_path / "edges.zarr")
    want_edges = gpuimg.edges.canny(volume, 1.0, 20.0, 60.0, mode="nearest")
    assert want_edges.sum() > 100
    np.testing.assert_array_equal(open_zarr(tmp_path / "edges.zarr").compute(), want_edges)

    # Above 1 sd of the structures: several components (3 or more for each of 300 seeds tried; above
    # 100 HU, 1 in 12 random volumes had a single one, and the count check failed).
    mask = gpuimg.preprocess.gaussian_filter(lazy, 1.0) > 300.0
    found = gpuimg.morphology.label(mask)
    write_chunked(found.labels, tmp_path / "labels.zarr")
    want, count = ndi.label(ndi.gaussian_filter(volume, 1.0) > 300.0, np.ones((3, 3, 3), bool))
    assert found.count == count >= 2
    np.testing.assert_array_equal(open_zarr(tmp_path / "labels.zarr").compute(), want)


def test_bad_requests_name_the_problem(tmp_path, volume):
    lazy = da.from_array(volume, chunks=8)
    with pytest.raises(gpuimg.ParameterError, match=r"\.zarr, \.nii or \.nii\.gz"):
        write_chunked(lazy, tmp_path / "out.tif")
    with pytest.raises(gpuimg.ParameterError, match="spacing"):
        write_chunked(lazy, tmp_path / "out.nii")
    with pytest.raises(gpuimg.ParameterError, match="3D"):
        write_chunked(lazy[0], tmp_path / "out.zarr")
    with pytest.raises(gpuimg.errors.ImageFileError, match="no Zarr array"):
        open_zarr(tmp_path / "absent.zarr")
    assert not list(tmp_path.iterdir())  # nothing half written


def test_zarr_of_chunks_on_the_gpu_equals_the_volume(tmp_path, volume, emulated_cuda):
    # Zarr stores host buffers: CUDA chunks (a chain after to_device(lazy, "cuda")) met CuPy's refusal
    # of an implicit copy, 'cannot be written (TypeError: Implicit conversion to a NumPy array is not
    # allowed ...)', where the NIfTI writer copies each slab. zarr itself reads back the volume.
    on_gpu = da.from_array(emulated_cuda(volume), chunks=(8, 16, 32), asarray=False)
    write_chunked(on_gpu, tmp_path / "ct.zarr")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "ct.zarr", mode="r")[:], volume)
    moved = gpuimg.Volume(gpuimg.to_device(da.from_array(volume, chunks=8), "cuda"), spacing=(2.0, 1.0, 1.0))
    write_chunked(moved, tmp_path / "moved.zarr")
    back = open_zarr(tmp_path / "moved.zarr")
    np.testing.assert_array_equal(zarr.open_array(tmp_path / "moved.zarr", mode="r")[:], volume)
    assert back.spacing == (2.0, 1.0, 1.0) and back.data.chunksize == (8, 8, 8)


@pytest.mark.parametrize("given", [{"origin": (10.0, -20.0, 30.0)}, {"direction": -np.eye(3)}])
def test_zarr_geometry_without_a_spacing_is_refused_not_dropped(tmp_path, volume, given):
    # The docstring promises the geometry given stored as attributes; without a spacing the origin or
    # direction was dropped without a word, and zarr read back a store without attributes.
    lazy = da.from_array(volume, chunks=8)
    with pytest.raises(gpuimg.ParameterError, match="pass spacing= in mm"):
        write_chunked(lazy, tmp_path / "out.zarr", **given)
    assert not list(tmp_path.iterdir())  # nothing written
    write_chunked(lazy, tmp_path / "out.zarr", spacing=(2.0, 1.0, 1.0), **given)
    stored = zarr.open_array(tmp_path / "out.zarr", mode="r").attrs[GEOMETRY_ATTRIBUTE]
    for key, value in given.items():
        np.testing.assert_array_equal(stored[key], value)


@pytest.mark.parametrize(
    "geometry",
    [
        {"spacing": [1.0, 1.0]},  # GeometryError, without the store's name
        {"spacing": "abc"},  # ValueError: could not convert string to float
        {"spacing": None},  # TypeError: 'float' object is not iterable
        {"spacing": [1.0, 1.0, 1.0], "unit": [1.0]},  # TypeError: unexpected keyword argument
        [1.0, 1.0, 1.0],  # AttributeError: 'list' object has no attribute 'items'
    ],
)
def test_a_damaged_geometry_attribute_names_the_store(tmp_path, geometry):
    """A store whose geometry attribute is not the one write_chunked writes (hand-edited, or copied by
    another tool) raised Python's own errors, or a GeometryError that did not say which store."""
    path = tmp_path / "ct.zarr"
    zarr.open_array(str(path), mode="w", shape=(2, 3, 4), dtype="f4").attrs[GEOMETRY_ATTRIBUTE] = geometry
    with pytest.raises(
        gpuimg.errors.ImageFileError, match=rf"ct\.zarr: its '{GEOMETRY_ATTRIBUTE}' attribute"
    ):
        open_zarr(path)


@pytest.mark.parametrize("name", ["out.zarr", "out.nii.gz"])
def test_unknown_chunk_sizes_are_a_parameter_error(tmp_path, name):
    """Boolean indexing by a Dask array leaves chunk sizes unknown (NaN): the write was a WriteError
    telling to check that the folder is writable ('Expected an iterable of integers', nibabel's
    'does not fit in dim datatype')."""
    lazy = da.ones((8, 6, 6), chunks=3)[da.from_array(np.ones(8, bool), chunks=3)]
    with pytest.raises(gpuimg.ParameterError, match=r"unknown chunk sizes.*compute_chunk_sizes"):
        write_chunked(lazy, tmp_path / name, spacing=(1.0, 1.0, 1.0))
    assert not list(tmp_path.iterdir())  # nothing half written
    written = write_chunked(lazy.compute_chunk_sizes(), tmp_path / name, spacing=(1.0, 1.0, 1.0))
    if name.endswith(".zarr"):
        np.testing.assert_array_equal(open_zarr(written).data.compute(), np.ones((8, 6, 6)))
    else:  # NIfTI holds (x, y, z)
        np.testing.assert_array_equal(np.asarray(nib.load(written).dataobj), np.ones((6, 6, 8)))


def test_a_nifti_suffix_in_mixed_case_is_refused_as_read_image_and_niftilib_do(tmp_path, volume):
    # write_chunked wrote "out.Nii.gz", which SimpleITK (niftilib) refuses to read and read_image
    # refuses by its name; it now refuses the name before writing.
    sitk = pytest.importorskip("SimpleITK")
    lazy = da.from_array(volume, chunks=8)
    with pytest.raises(
        gpuimg.ParameterError, match=r"out\.Nii\.gz: the suffix '\.Nii\.gz' mixes upper and lower"
    ):
        write_chunked(lazy, tmp_path / "out.Nii.gz", spacing=SPACING)
    assert not list(tmp_path.iterdir())
    path = write_chunked(lazy, tmp_path / "out.NII.GZ", spacing=SPACING)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(sitk.ReadImage(str(path))), volume)
    path.rename(tmp_path / "out.Nii.gz")
    with pytest.raises(RuntimeError):
        sitk.ReadImage(str(tmp_path / "out.Nii.gz"))


@pytest.mark.parametrize("suffix", [".zarr", ".nii.gz"])
def test_slab_chunks_are_written_on_all_threads(tmp_path, volume, suffix):
    """A volume in slab chunks (one chunk per row along z, as a CT in chunks of whole slices) was
    computed a row, so one chunk, at a time: one core working whatever Dask's threads. Now a run of
    rows with a chunk per thread: the first two chunks are computed at once on 2 threads (they met at
    a barrier; before, each waited for the other in vain). The file holds the computed volume."""
    import itertools
    import threading

    import dask

    barrier, calls, met = threading.Barrier(2, timeout=10), itertools.count(), []

    def plus_one(block):
        if next(calls) < 2:
            try:
                met.append(barrier.wait() >= 0)
            except threading.BrokenBarrierError:
                met.append(False)
        return block + np.float32(1.0)

    meta = np.empty((0, 0, 0), np.float32)  # else Dask calls plus_one on an empty array to find it
    lazy = da.from_array(volume, chunks=(2, 21, 22)).map_blocks(plus_one, meta=meta)
    with dask.config.set(scheduler="threads", num_workers=2):
        path = write_chunked(lazy, tmp_path / f"ct{suffix}", spacing=SPACING)
    assert met == [True, True]
    if suffix == ".zarr":
        written = np.asarray(open_zarr(path).data)
    else:
        written = np.asarray(nib.load(path).dataobj).transpose(2, 1, 0)  # (x, y, z) on disk
    np.testing.assert_array_equal(written, volume + np.float32(1.0))


def _fails_on_its_last_chunk(block, block_info=None):
    """A function of one's own in the chain that fails on one chunk (as a division by a zero spacing)."""
    if block_info[0]["chunk-location"][0] == block_info[0]["num-chunks"][0] - 1:
        raise ZeroDivisionError("float division by zero")
    return block


@pytest.mark.parametrize("suffix", [".zarr", ".nii.gz"])
def test_a_failing_chain_is_told_from_a_failing_write(tmp_path, volume, suffix):
    """Regression: an exception of the chain's own computing was reported as a file that could not be
    written ('Check that the folder is writable and the dtype ...'), sending one to check the disk."""
    lazy = da.from_array(volume, chunks=CHUNKS).map_blocks(_fails_on_its_last_chunk, dtype=volume.dtype)
    path = tmp_path / f"out{suffix}"
    with pytest.raises(gpuimg.errors.WriteError) as raised:
        write_chunked(lazy, path, spacing=SPACING)
    said = str(raised.value)
    assert "computing the image failed (ZeroDivisionError: float division by zero)" in said, said
    assert "nothing written" in said and "writable" not in said
    assert isinstance(raised.value.__cause__, ZeroDivisionError)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_a_zarr_store_refusing_a_chunk_is_still_a_write_failure(tmp_path, volume, monkeypatch):
    """A full disk while chunks are stored (the computing went well) keeps the write failure's message."""

    class Full:
        def __init__(self, array):
            self.shape, self.dtype, self.attrs = array.shape, array.dtype, {}

        def __setitem__(self, index, chunk):
            raise OSError(28, "No space left on device")

    open_array = zarr.open_array
    monkeypatch.setattr(zarr, "open_array", lambda *a, **k: Full(open_array(*a, **k)))
    with pytest.raises(gpuimg.errors.WriteError) as raised:
        write_chunked(da.from_array(volume, chunks=CHUNKS), tmp_path / "out.zarr")
    said = str(raised.value)
    assert "OSError: [Errno 28] No space left on device" in said and "writable" in said, said
    assert "computing" not in said


@pytest.mark.parametrize("shape", [(0, 8, 7), (3, 0, 7), (0, 0, 0)])
def test_an_empty_volume_is_written_with_chunks_of_at_least_one(tmp_path, shape):
    """A volume with no voxels along an axis: Dask's chunk there is 0 long, but a Zarr chunk grid's
    chunk lengths are at least 1 (zarr's own default for such an array: 1; readers such as
    TensorStore refuse 0). The store reads back with zarr as the empty array."""
    import json

    da = pytest.importorskip("dask.array")
    zarr = pytest.importorskip("zarr")
    path = write_chunked(da.zeros(shape), tmp_path / "e.zarr")
    grid = json.loads((path / "zarr.json").read_text())["chunk_grid"]["configuration"]["chunk_shape"]
    assert min(grid) >= 1
    assert grid == list(zarr.create_array(tmp_path / "z.zarr", shape=shape, dtype="f8").chunks)
    assert zarr.open_array(str(path), mode="r")[...].shape == shape
    assert open_zarr(path).compute().shape == shape
