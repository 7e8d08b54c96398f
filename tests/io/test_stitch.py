"""stitch: stations cut from a known volume join back into it."""

import numpy as np
import pytest

from gpuimg import GeometryError, ParameterError, Volume
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
    with pytest.raises(GeometryError, match=f"Station 1 and station 0 differ in {words}"):
        stitch([station(body, 0, 10), change(station(body, 10, 20))])


def test_gap_and_off_grid_refused(body):
    with pytest.raises(GeometryError, match=r"gap of 2 slice\(s\)"):
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


def test_stations_written_and_read_as_dicom(tmp_path, rng):
    """Two overlapping DICOM stations of a phantom, read back and stitched, give the phantom."""
    phantom = ct_phantom((20, 32, 32), seed=int(rng.integers(2**31)))
    write_dicom(station(phantom, 0, 12), tmp_path / "head")
    write_dicom(station(phantom, 9, 20), tmp_path / "body")
    stations = [read_dicom(tmp_path / name, device="cpu") for name in ("body", "head")]
    joined = stitch(stations, overlap="mean")
    np.testing.assert_array_equal(joined.data, phantom.data)
    np.testing.assert_allclose(joined.affine, phantom.affine, atol=1e-6)  # DS strings: 16 characters
