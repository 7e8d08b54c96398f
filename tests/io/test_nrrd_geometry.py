"""read_image on NRRD headers that give their geometry in other units than mm: against SimpleITK's
reading of the same image written in mm."""

import nrrd
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from gpuimg import GeometryError, ImageFileError
from gpuimg.io import _nrrd, read_image


@pytest.mark.parametrize(("unit", "mm"), [("um", 1e-3), ("m", 1e3), ("cm", 10.0), ("mm", 1.0), ("", 1.0)])
@pytest.mark.parametrize("form", ["space", "axes"])
def test_a_nrrd_in_microns_or_metres_is_read_in_mm(tmp_path, rng, unit, mm, form):
    # NRRD's 'space units' (for 'space directions' and 'space origin') and 'units' (for each axis's
    # 'spacings' and 'axis mins') name the unit of its geometry; teem and ITK leave the numbers as
    # written, and read_image took them as mm: a 10 um micro-CT grid read as 10 mm, its origin 1000
    # times too far. They are now converted, as a NIfTI file's xyzt_units are. Reference: SimpleITK's
    # reading of the same image written in mm.
    sitk = pytest.importorskip("SimpleITK")
    data = rng.integers(0, 1000, (6, 7, 5)).astype(np.int16)  # (i, j, k)
    steps = np.array([0.01, 0.012, 0.02])  # [mm]
    origin = np.array([1.5, -2.25, 3.0])  # [mm]
    if form == "space":
        rotation = Rotation.from_euler("xyz", [10.0, -25.0, 40.0], degrees=True).as_matrix()
        in_mm = {
            "space": "left-posterior-superior",
            "space directions": (rotation * steps).T,
            "space origin": origin,
        }
        written = {**in_mm, "space directions": in_mm["space directions"] / mm, "space origin": origin / mm}
        written["space units"] = [unit] * 3
    else:
        in_mm = {"spacings": steps, "axis mins": origin, "centerings": ["node"] * 3}
        written = {**in_mm, "spacings": steps / mm, "axis mins": origin / mm, "units": [unit] * 3}
    nrrd.write(str(tmp_path / "in_mm.nrrd"), data, in_mm)
    nrrd.write(str(tmp_path / "written.nrrd"), data, written)
    volume = read_image(tmp_path / "written.nrrd", device="cpu")
    theirs = sitk.ReadImage(str(tmp_path / "in_mm.nrrd"))
    np.testing.assert_array_equal(volume.data, sitk.GetArrayFromImage(theirs))
    # The division and multiplication by the unit: a few ulp of the values
    np.testing.assert_allclose(volume.spacing, theirs.GetSpacing()[::-1], rtol=1e-12)
    np.testing.assert_allclose(volume.origin, theirs.GetOrigin(), rtol=1e-12)
    np.testing.assert_allclose(
        volume.direction, np.reshape(theirs.GetDirection(), (3, 3))[:, ::-1], atol=1e-12
    )


@pytest.mark.parametrize("key", ["space units", "units"])
def test_a_nrrd_in_units_that_are_no_length_is_refused(tmp_path, rng, key):
    header = {key: ["mm", "pixel", "mm"]}
    if key == "space units":
        header.update({"space": "left-posterior-superior", "space directions": np.eye(3)})
    nrrd.write(str(tmp_path / "odd.nrrd"), rng.integers(0, 9, (3, 4, 5)).astype(np.uint8), header)
    with pytest.raises(GeometryError, match=rf"odd\.nrrd: '{key}' gives the unit 'pixel', not a length"):
        read_image(tmp_path / "odd.nrrd", device="cpu")


def _raw_nrrd(path, fields: str, sizes=(2, 3, 4)) -> None:
    """A raw uint8 NRRD of ``sizes`` (i, j, k) whose header has the lines ``fields``."""
    sizes_field = " ".join(map(str, sizes))
    head = f"NRRD0004\ntype: uint8\ndimension: {len(sizes)}\nsizes: {sizes_field}\nencoding: raw\n{fields}\n"
    path.write_bytes(head.encode() + bytes(int(np.prod(sizes))))


@pytest.mark.parametrize(
    "rows",
    [
        [(1.25, 0, 0), (0, 0, 0), (0, 0, 2)],  # an axis of no length
        [(1.25, 0, 0), (0, float("nan"), 0), (0, 0, 2)],  # one number not one
        [(1.25, 0, 0), (0, 1.25, 0), (0, 0, float("inf"))],
        [(1e-200, 0, 0), (0, 1.25, 0), (0, 0, 2)],  # its square underflows to 0
        [(0.6, 0.8, 0), (-0.8, 0.6, 0), (0, 0, 0)],  # oblique axes, their lengths shown as NumPy has them
    ],
)
def test_a_nrrd_whose_space_directions_are_no_spacing_is_refused_naming_their_lengths(tmp_path, rows):
    # Reference: the rows' lengths as NumPy computes them (sqrt of the dot product), in the message.
    vectors = " ".join(f"({','.join(repr(float(v)) for v in row)})" for row in rows)
    _raw_nrrd(tmp_path / "odd.nrrd", f"space: LPS\nspace directions: {vectors}\n")
    lengths = [float(np.sqrt(np.dot(row, row))) for row in np.array(rows, dtype=float)]
    with pytest.raises(ImageFileError) as caught:
        read_image(tmp_path / "odd.nrrd", device="cpu")
    assert f"odd.nrrd: the lengths of 'space directions' are {lengths} [mm]; a voxel spacing must be " in str(
        caught.value
    )


@pytest.mark.parametrize("none", ["none", "(nan,nan,nan)"])
def test_a_nrrd_axis_of_none_or_nan_directions_is_no_spatial_axis(tmp_path, rng, none):
    # A 'none' row (pynrrd: all NaN), or one written as NaNs, marks a non-spatial axis: a list axis of
    # one component is dropped, the others keep their steps (reference: the header's rows).
    _raw_nrrd(
        tmp_path / "list.nrrd",
        f"space: LPS\nspace directions: {none} (0.5,0,0) (0,0.75,0) (0,0,2)\n",
        (1, 2, 3, 4),
    )
    volume = read_image(tmp_path / "list.nrrd", device="cpu")
    assert volume.shape == (4, 3, 2)
    assert volume.spacing == (2.0, 0.75, 0.5)


@pytest.mark.parametrize(
    ("spacings", "shown"), [("1 0 2", [1.0, 0.0, 2.0]), ("1 nan 2", [1.0, float("nan"), 2.0])]
)
def test_a_nrrd_whose_spacings_are_no_spacing_is_refused_naming_them(tmp_path, spacings, shown):
    _raw_nrrd(tmp_path / "odd.nrrd", f"spacings: {spacings}\n")
    with pytest.raises(ImageFileError) as caught:
        read_image(tmp_path / "odd.nrrd", device="cpu")
    assert f"odd.nrrd: spacings are {shown} [mm]; a voxel spacing must be positive" in str(caught.value)


@pytest.mark.parametrize(
    ("space", "signs"),
    [("left-posterior-superior", (1, 1, 1)), ("RAS", (-1, -1, 1)), ("las", (1, -1, 1)), (None, (1, 1, 1))],
)
@pytest.mark.parametrize(
    "steps",
    [
        [1.25, 1.25, 2.0],
        [-0.7, 0.3, -5.0],
        [1.1e-150, 1.0, 9e149],  # squared lengths just within the range the plain path takes
        [1e-151, 1.0, 1e149],  # one just below it: left to the general path
        [1e-160, 1.0, 1.0],  # a squared length that is subnormal: left to the general path
        [1e-170, 1.0, 1.0],  # one that underflows to 0: refused
        [1e160, 1.0, 1.0],  # one that overflows: refused
    ],
)
@pytest.mark.parametrize("origin", [None, [-29.375, 0.0, -31.0], [0.0, -0.0, 1e-300], [np.nan, 0.0, 0.0]])
def test_an_axis_aligned_nrrd_has_the_geometry_of_the_general_path(
    tmp_path, monkeypatch, space, signs, steps, origin
):
    # _plain_geometry works out the common header's geometry on Python floats: the same matrix and
    # origin as the general path (bit for bit, C order) and the same refusals; against the closed form
    # too (an axis-aligned step k of length |d_k|, along the space's sign of axis k in LPS).
    header = {"space directions": np.diag(steps), "kinds": ["domain"] * 3}
    if space is not None:
        header["space"] = space
    if origin is not None:
        header["space origin"] = np.array(origin)
    path = tmp_path / "mask.nrrd"
    nrrd.write(str(path), np.zeros((3, 4, 5), np.uint8), header)

    def read():
        try:
            volume = read_image(path, device="cpu")
        except Exception as exc:  # the refusal is compared
            return type(exc), str(exc)
        return volume.spacing, volume.origin, volume.direction.tobytes(), volume.direction.flags.c_contiguous

    plain = read()
    monkeypatch.setattr(_nrrd, "_plain_geometry", lambda header: None)
    assert read() == plain
    if all(1e-150 < abs(v) < 1e150 for v in steps) and not np.isnan(origin or [0.0]).any():
        lps = [s * d for s, d in zip(signs, steps, strict=True)]
        assert plain[0] == tuple(abs(v) for v in steps[::-1])
        assert plain[1] == tuple(s * v + 0.0 for s, v in zip(signs, origin or [0.0] * 3, strict=True))
        expected = np.diag(np.sign(lps))[:, ::-1] + 0.0
        assert plain[2] == expected.tobytes()
    if abs(steps[0]) in (1e-170, 1e160):
        assert plain[0] is ImageFileError and "lengths of 'space directions'" in plain[1]


@pytest.mark.parametrize("entries", [1, 2])
def test_a_non_spatial_axis_is_dropped_only_where_it_has_one_entry(tmp_path, rng, entries):
    # A 'none' axis of one entry is no axis of the volume; of two, the image is 4D and refused (as
    # SimpleITK reads it: a vector image). Reference: the data written.
    data = rng.integers(0, 9, (entries, 4, 5, 6)).astype(np.uint8)
    header = {"space": "left-posterior-superior", "kinds": ["list", "domain", "domain", "domain"]}
    header["space directions"] = np.array([[np.nan] * 3, [1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]])
    nrrd.write(str(tmp_path / "a.nrrd"), data, header)
    if entries == 1:
        np.testing.assert_array_equal(read_image(tmp_path / "a.nrrd", device="cpu").data, data[0].T)
    else:
        with pytest.raises(GeometryError, match="4D image"):
            read_image(tmp_path / "a.nrrd", device="cpu")
