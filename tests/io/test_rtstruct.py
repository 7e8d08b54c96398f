"""RTSTRUCT ROIs rasterised on the image grid: the IBSI data's own voxel masks, and closed forms."""

from pathlib import Path

import numpy as np
import pydicom
import pytest
from rtstruct_files import square_contour, write_structure_set

import gpuimg
from gpuimg import DicomError, GeometryError, ParameterError, Volume
from gpuimg.io import read_rtstruct, rtstruct_roi_names

IBSI = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ibsi"
CT_PHANTOM = IBSI / "ct_phantom_CC-BY-NC"
STS = sorted((IBSI / "validation_sts").glob("STS_*/*/mask_voxels.nii.gz"))


def _agreement(rtstruct: Path, image: Path, voxels: Path) -> tuple[np.ndarray, np.ndarray]:
    reference = gpuimg.read_dicom(image, device="cpu")
    mask = read_rtstruct(rtstruct, reference)
    expected = gpuimg.read_image(voxels, device="cpu")
    # The NIfTI mask was exported on the same grid; rasterising needs no resampling.
    np.testing.assert_allclose(expected.origin, reference.origin, atol=1e-3)
    assert expected.shape == reference.shape
    return mask.data > 0, expected.data > 0


@pytest.mark.skipif(not CT_PHANTOM.exists(), reason="the IBSI CT phantom is not in ../shared/data")
def test_ct_phantom_rtstruct_gives_its_nifti_mask():
    found, expected = _agreement(
        next((CT_PHANTOM / "dicom" / "mask").glob("*.dcm")),
        CT_PHANTOM / "dicom" / "image",
        CT_PHANTOM / "nifti" / "mask" / "mask.nii.gz",
    )
    # Voxel for voxel, the contour's voxels too (all 125256 of the ROI).
    np.testing.assert_array_equal(found, expected)


@pytest.mark.skipif(not STS, reason="the IBSI validation_sts data are not in ../shared/data")
@pytest.mark.parametrize("voxels", STS, ids=[f"{p.parents[1].name}-{p.parent.name}" for p in STS])
def test_validation_sts_rtstruct_gives_its_voxel_mask(voxels):
    found, expected = _agreement(
        next((voxels.parent / "mask").glob("*.dcm")), voxels.parent / "image", voxels
    )
    assert expected.sum() > 0
    np.testing.assert_array_equal(found, expected)  # voxel for voxel, as the CT phantom's


@pytest.fixture
def image():
    # A rotated, anisotropic grid: the mapping from LPS to indices has to use the direction.
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]])
    return Volume(np.zeros((5, 12, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), direction)


def test_square_with_a_hole_is_rasterised_by_voxel_centres(tmp_path, image):
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {
            "body": [square_contour(image, 3, 10.5, 11.5)],
            "GTV_Mass": [square_contour(image, 2, 1.5, 6.5), square_contour(image, 2, 3.5, 4.5)],
        },
    )
    mask = read_rtstruct(path, image, roi="gtv")
    # Closed form: the voxel centres 2..6 lie inside the outer square, centre 4 inside the hole.
    expected = np.zeros(image.shape, np.uint8)
    expected[2, 2:7, 2:7] = 1
    expected[2, 4, 4] = 0
    np.testing.assert_array_equal(mask.data, expected)
    assert mask.meta["roi"] == "GTV_Mass" and mask.spacing == image.spacing
    assert rtstruct_roi_names(path) == ["body", "GTV_Mass"]


def test_ambiguous_missing_and_misplaced_rois_are_explained(tmp_path, image):
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV_1": [square_contour(image, 1, 2, 5)], "GTV_2": []})
    with pytest.raises(DicomError, match=r"holds 2 ROIs .*pass roi="):
        read_rtstruct(path, image)
    with pytest.raises(DicomError, match=r"2 ROIs match 'GTV'"):
        read_rtstruct(path, image, roi="GTV")
    with pytest.raises(DicomError, match=r"no ROI matches 'lung'.*\['GTV_1', 'GTV_2'\]"):
        read_rtstruct(path, image, roi="lung")
    with pytest.raises(DicomError, match="has no closed contours"):
        read_rtstruct(path, image, roi="GTV_2")
    empty = write_structure_set(tmp_path / "empty.dcm", {})  # was "holds 0 ROIs []; pass roi= with one"
    for roi in (None, "GTV"):
        with pytest.raises(DicomError, match="the structure set holds no ROI; export it again"):
            read_rtstruct(empty, image, roi=roi)
    between = square_contour(image, 1, 2, 5) + image.direction[:, 0] * 0.5 * image.spacing[0]
    outside = square_contour(image, 7, 2, 5)
    for points, message in ((between, "between image slices"), (outside, "outside the image")):
        with pytest.raises(GeometryError, match=message):
            read_rtstruct(write_structure_set(tmp_path / "bad.dcm", {"GTV": [points]}), image)


def test_a_file_that_is_not_awrite_structure_set(tmp_path, image):
    gpuimg.write_dicom(image, tmp_path / "ct")
    with pytest.raises(DicomError, match="not RTSTRUCT"):
        read_rtstruct(next((tmp_path / "ct").iterdir()), image)
    (tmp_path / "junk.dcm").write_bytes(b"not dicom")
    with pytest.raises(DicomError, match="cannot read"):
        read_rtstruct(tmp_path / "junk.dcm", image)


@pytest.mark.skipif(not CT_PHANTOM.exists(), reason="the IBSI CT phantom is not in ../shared/data")
def test_ibsi_configuration_a_from_dicom_and_rtstruct():
    """Every IBSI configuration A feature that passes from the NIfTI input passes from DICOM + RTSTRUCT."""
    import csv

    from gpuimg.features import extract, ibsi_settings

    reference_file = IBSI / "reference_values" / "ibsi_1_chest_config_a.csv"
    with reference_file.open() as file:
        rows = [row for row in csv.reader(file, delimiter=";") if len(row) == 3][1:]
    reference = {tag: (float(value), float(tolerance)) for value, tolerance, tag in rows if value}
    image = gpuimg.read_dicom(CT_PHANTOM / "dicom" / "image", device="cpu")
    mask = read_rtstruct(next((CT_PHANTOM / "dicom" / "mask").glob("*.dcm")), image)
    # The five first-order families (fast); the texture families see the same voxels, as the masks
    # are equal voxel for voxel.
    families = ["morphology", "local_intensity", "statistics", "histogram", "ivh"]
    ours = extract(image, mask, settings=ibsi_settings("A"), families=families)
    nifti = extract(
        gpuimg.read_image(CT_PHANTOM / "nifti" / "image" / "phantom.nii.gz", device="cpu"),
        gpuimg.read_image(CT_PHANTOM / "nifti" / "mask" / "mask.nii.gz", device="cpu"),
        settings=ibsi_settings("A"),
        families=families,
    )

    def passes(features):
        # The IBSI rule: the value rounded to 3 significant digits, within the reference's tolerance.
        return {
            tag
            for tag, (value, tolerance) in reference.items()
            if tag in features
            and abs(float(f"{features[tag]:.3g}") - value) <= tolerance + 1e-9 * max(abs(value), 1.0)
        }

    compared = {tag for tag in reference if tag in ours}
    assert len(compared) > 70  # the five families' rows with a reference value
    assert passes(ours) == passes(nifti) == compared


def test_the_row_fill_equals_scikit_images_polygon2mask(rng):
    from skimage.draw import polygon2mask

    from gpuimg.io.rtstruct import _inside

    for _ in range(50):
        # Random (often self-intersecting) polygons, partly outside the image: the even-odd rule.
        n = int(rng.integers(3, 40))
        rows, columns = rng.uniform(-5, 35, n), rng.uniform(-5, 45, n)
        expected = polygon2mask((30, 40), np.column_stack([rows, columns]))
        np.testing.assert_array_equal(_inside((30, 40), rows, columns), expected)


def test_centres_on_an_edge_count_on_its_low_side_only():
    # Half-open, as PNPOLY: a square from 2 to 6 holds the centres 2..5 on each axis (polygon2mask,
    # counting its edges in, 2..6); two squares sharing an edge share no voxel.
    from gpuimg.io.rtstruct import _inside

    square = _inside((10, 10), np.array([2.0, 2, 6, 6]), np.array([2.0, 6, 6, 2]))
    expected = np.zeros((10, 10), np.uint8)
    expected[2:6, 2:6] = 1
    np.testing.assert_array_equal(square, expected)
    beside = _inside((10, 10), np.array([2.0, 2, 6, 6]), np.array([6.0, 9, 9, 6]))
    assert not (square & beside).any() and beside.sum() == 4 * 3


def _even_odd(shape: tuple[int, int], rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """The crossing-number test as W. R. Franklin's PNPOLY states it, for each pixel centre (y, x): a ray
    from the centre towards +x crosses the edge from vertex j to vertex i where the edge spans the row
    half-open (one end above y, the other at or below) and its crossing lies strictly right of x; the
    centre is inside after an odd number of such crossings. Written for clarity: one edge at a time."""
    y, x = np.mgrid[: shape[0], : shape[1]].astype(float)
    odd = np.zeros(shape, dtype=bool)
    for i in range(len(rows)):
        j = i - 1  # the previous vertex; vertex -1 closes the outline
        spans = (rows[i] > y) != (rows[j] > y)
        with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges span no row
            crossing = (columns[j] - columns[i]) * (y - rows[i]) / (rows[j] - rows[i]) + columns[i]
        odd ^= spans & (x < crossing)
    return odd.astype(np.uint8)


def test_the_row_fill_equals_the_even_odd_rule_with_centres_on_edges_and_vertices(rng):
    # Vertices on the half-voxel grid put centres exactly on edges, on vertices and on horizontal
    # edges, where the half-open rule decides (polygon2mask counts them in): the rule's reference,
    # pixel by pixel. Shapes from one pixel up, polygons partly outside, self-intersecting, with
    # repeated vertices and degenerate (one or two points: no area).
    from gpuimg.io.rtstruct import _inside

    for trial in range(300):
        shape = (int(rng.integers(1, 24)), int(rng.integers(1, 24)))
        n = int(rng.integers(1, 16))
        rows = rng.integers(-4, 2 * shape[0] + 4, n) / 2
        columns = rng.integers(-4, 2 * shape[1] + 4, n) / 2
        if trial % 3 == 0:  # a vertex repeated: an edge of length 0
            rows, columns = np.repeat(rows, 2), np.repeat(columns, 2)
        np.testing.assert_array_equal(_inside(shape, rows, columns), _even_odd(shape, rows, columns))
    # A body outline of a CT slice (one contour a pixel apart around most of the slice): both rules agree
    # off the grid, so scikit-image's too.
    from skimage.draw import polygon2mask

    angle = np.linspace(0, 2 * np.pi, 700, endpoint=False)
    rows = 96 + 80 * (1 + 0.03 * np.sin(5 * angle)) * np.sin(angle) + rng.normal(0, 0.2, angle.size)
    columns = 128 + 110 * (1 + 0.03 * np.sin(5 * angle)) * np.cos(angle) + rng.normal(0, 0.2, angle.size)
    body = _inside((192, 256), rows, columns)
    np.testing.assert_array_equal(body, _even_odd((192, 256), rows, columns))
    np.testing.assert_array_equal(body, polygon2mask((192, 256), np.column_stack([rows, columns])))


@pytest.mark.parametrize(
    "flip", [(1, 1), (-1, 1), (1, -1), (-1, -1)], ids=["plain", "rows", "columns", "both"]
)
def test_contours_on_a_flipped_or_oblique_grid_fill_the_voxels_of_their_index_polygon(tmp_path, image, flip):
    # The rotated fixture, its rows and columns flipped (a feet-first or mirrored export): each slice's
    # mask is the even-odd fill of the contours' voxel indices, a contour inside another a hole.
    direction = image.direction * np.array([1.0, *flip])
    grid = Volume(image.data, image.spacing, image.origin, direction)
    rng = np.random.default_rng(7)
    polygons, expected = [], np.zeros(grid.shape, np.uint8)
    for k in range(grid.shape[0]):
        for scale in (5.5, 2.5):  # an outline and, inside it, a hole
            angle = np.sort(rng.uniform(0, 2 * np.pi, 9))
            radius = scale * rng.uniform(0.8, 1.0, 9)
            index = np.column_stack(
                [np.full(9, k), 5.6 + radius * np.sin(angle), 5.4 + radius * np.cos(angle)]
            )
            polygons.append(grid.origin + (index * grid.spacing) @ direction.T)
            expected[k] ^= _even_odd(grid.shape[1:], index[:, 1], index[:, 2])
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": polygons})
    np.testing.assert_array_equal(read_rtstruct(path, grid).data, expected)


@pytest.mark.parametrize("axial", [False, True], ids=["rotated", "axial"])
def test_a_contour_through_voxel_centres_keeps_the_half_open_rule_on_any_spacing(tmp_path, image, axial):
    # Squares drawn through voxel centres, from 2 to 6 and from 6 to 9: the rule gives voxels 2..5 and
    # 6..8 on each axis. Spacings of 0.8 and 1.1 mm (not binary fractions) left the corners' indices
    # 1e-15 off the centres, so the rounding chose: 14 voxels on the rotated grid and 20 on the axial
    # one for the 16 of the first square.
    if axial:
        axes = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
        image = Volume(image.data, image.spacing, image.origin, axes)
    first, beside = square_contour(image, 2, 2, 6), square_contour(image, 2, 6, 9)
    path = write_structure_set(tmp_path / "rs.dcm", {"A": [first], "B": [beside]})
    expected = np.zeros(image.shape, np.uint8)
    expected[2, 2:6, 2:6] = 1
    np.testing.assert_array_equal(read_rtstruct(path, image, "A").data, expected)
    expected[2] = 0
    expected[2, 6:9, 6:9] = 1
    np.testing.assert_array_equal(read_rtstruct(path, image, "B").data, expected)


def test_a_mask_beyond_the_memory_budget_is_refused_before_it_is_drawn(tmp_path, image, monkeypatch):
    from gpuimg.errors import MemoryBudgetError

    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": [square_contour(image, 2, 2.5, 6.5)]})
    voxels = int(np.prod(image.shape))  # a byte each
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(voxels - 1))
    with pytest.raises(
        MemoryBudgetError, match=r"rs\.dcm: the RTSTRUCT's mask on the image's 5 x 12 x 12 voxels"
    ):
        read_rtstruct(path, image)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(voxels))
    assert read_rtstruct(path, image).data.sum() == 16


def test_a_bad_roi_or_reference_is_named_not_blamed_on_the_file(tmp_path, image):
    # An array as the reference, or roi=3, was an AttributeError inside the reading: reported as "an
    # element of this RTSTRUCT file is damaged or missing"; an invalid pattern was re.error.
    path = write_structure_set(tmp_path / "rs.dcm", {"Lesion (left)": [square_contour(image, 1, 2, 5)]})
    with pytest.raises(ParameterError, match=r"reference=ndarray: pass the image the RTSTRUCT was drawn on"):
        read_rtstruct(path, image.data)
    with pytest.raises(ParameterError, match=r"roi=3.0 must be a name \(str\)"):
        read_rtstruct(path, image, roi=3.0)
    with pytest.raises(DicomError, match=r"no ROI has the ROINumber 3; its ROIs are 1 \('Lesion \(left\)'\)"):
        read_rtstruct(path, image, roi=3)
    with pytest.raises(ParameterError, match=r"roi=.lesion \(. is no name in the file and not a valid"):
        read_rtstruct(path, image, roi="lesion (")
    # The exact name, and the name ignoring case, are matched before any pattern.
    assert read_rtstruct(path, image, roi="lesion (LEFT)").meta["roi"] == "Lesion (left)"


def test_two_rois_of_one_name_are_refused_not_one_taken_silently(tmp_path, image):
    # Two ROIs named "GTV" (pydicom strips the second's trailing space): the name mapped to the last
    # ROI's number, so roi="GTV" gave the second ROI's slice 3 without a word.
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {"GTV": [square_contour(image, 2, 1.5, 6.5)], "GTV ": [square_contour(image, 3, 1.5, 3.5)]},
    )
    assert rtstruct_roi_names(path) == ["GTV", "GTV"]
    with pytest.raises(
        DicomError, match=r"ROIs 1 and 2 are both named 'GTV'.*ROINumber of the one meant \(1 or 2\)"
    ):
        read_rtstruct(path, image, roi="gtv")
    # Each by its ROINumber. Closed form: the voxel centres 2..6 (slice 2) and 2..3 (slice 3).
    for number, k, side in ((1, 2, 5), (np.int64(2), 3, 2)):
        expected = np.zeros(image.shape, np.uint8)
        expected[k, 2 : 2 + side, 2 : 2 + side] = 1
        mask = read_rtstruct(path, image, roi=number)
        np.testing.assert_array_equal(mask.data, expected)
        assert mask.meta["roi"] == "GTV"


def test_a_contour_exported_twice_on_its_slice_counts_once(tmp_path, image):
    # The even-odd rule cut a repeated contour out of itself: an exact copy, the copy closed by its
    # first point again, or the copy drawn the other way round emptied the slice.
    from skimage.draw import polygon2mask

    outer, hole = square_contour(image, 2, 1.5, 8.5), square_contour(image, 2, 3.5, 5.5)
    expected = np.zeros(image.shape, bool)
    expected[2] = polygon2mask(image.shape[1:], [(1.5, 1.5), (1.5, 8.5), (8.5, 8.5), (8.5, 1.5)])
    expected[2] ^= polygon2mask(image.shape[1:], [(3.5, 3.5), (3.5, 5.5), (5.5, 5.5), (5.5, 3.5)])
    for copy in (outer.copy(), np.vstack([outer, outer[:1]]), outer[::-1]):
        path = write_structure_set(tmp_path / "rs.dcm", {"GTV": [outer, hole, copy]})
        np.testing.assert_array_equal(read_rtstruct(path, image).data, expected)


def test_only_contours_on_one_slice_can_be_repeats(tmp_path, image):
    # Repeats were sought among all contours; only one slice's can be repeats (read_rtstruct built each
    # contour's point set to compare, 0.5-2.8 ms a slice of a 1000-slice body outline). The same square
    # on slices 1 and 3 is drawn on both; its copy on slice 3 counts once; a triangle of the square's
    # extent on slice 3 is no repeat, so the even-odd rule cuts it out of the square.
    from skimage.draw import polygon2mask

    def lps(k, corners):
        return np.array(
            [image.origin + image.direction @ (np.array((k, *c)) * image.spacing) for c in corners]
        )

    square = [(1.5, 1.5), (1.5, 8.5), (8.5, 8.5), (8.5, 1.5)]
    triangle = [(1.5, 1.5), (8.5, 8.5), (8.5, 1.5)]
    contours = [
        lps(1, square),
        lps(3, square),
        lps(3, square[::-1]),
        lps(3, triangle),
        lps(1, square[1:] + square[:1]),
    ]
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": contours})
    expected = np.zeros(image.shape, bool)
    expected[1] = polygon2mask(image.shape[1:], square)
    expected[3] = polygon2mask(image.shape[1:], square) ^ polygon2mask(image.shape[1:], triangle)
    # polygon2mask counts centres on an edge as inside, read_rtstruct on the edge's low side only: the
    # triangle's diagonal passes through the centres (2, 2) .. (8, 8), so compare off the diagonal and edges.
    rows, columns = np.indices(image.shape[1:])
    clear = (rows != columns) & (np.minimum(rows, columns) > 1) & (np.maximum(rows, columns) < 9)
    found = read_rtstruct(path, image).data.astype(bool)
    np.testing.assert_array_equal(found[:, clear], expected[:, clear])
    assert not found[[0, 2, 4]].any()
    assert found[1, 2:9, 2:9].all()  # the repeat on slice 1 (another first point) cut nothing out


def _retyped(path: Path, kinds: list[str]) -> Path:
    """The structure set ``path`` with its contours' ContourGeometricType set to ``kinds``, in order."""
    ds = pydicom.dcmread(path)
    contours = [item for roi in ds.ROIContourSequence for item in roi.ContourSequence]
    for item, kind in zip(contours, kinds, strict=True):
        item.ContourGeometricType = kind
    ds.save_as(path)
    return path


def test_points_and_open_contours_enclose_no_voxel(tmp_path, image):
    # An OPEN_PLANAR polyline (a line, not a region) was filled as a polygon, and an ROI of POINT
    # markers only came back as an empty mask without a word.
    from skimage.draw import polygon2mask

    line = square_contour(image, 1, 1.5, 8.5)[:3]
    closed = square_contour(image, 3, 2.5, 6.5)
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": [line, closed]})
    path = _retyped(path, ["OPEN_PLANAR", "CLOSED_PLANAR"])
    expected = np.zeros(image.shape, bool)
    expected[3] = polygon2mask(image.shape[1:], [(2.5, 2.5), (2.5, 6.5), (6.5, 6.5), (6.5, 2.5)])
    np.testing.assert_array_equal(read_rtstruct(path, image).data, expected)
    markers = {"Marker": [closed[:1], line[:1]]}
    path = _retyped(write_structure_set(tmp_path / "points.dcm", markers), ["POINT", "POINT"])
    with pytest.raises(DicomError, match=r"'Marker' has no closed contours \(only POINT\)"):
        read_rtstruct(path, image)


def test_spaces_around_an_roi_name_are_not_part_of_it(tmp_path, image):
    # DICOM ignores leading and trailing spaces of an LO value such as ROIName; " GTV" was kept with
    # its space, so roi="GTV" matched it only as a pattern, and with "GTV_2" too: "2 ROIs match".
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {" GTV": [square_contour(image, 2, 1.5, 6.5)], "GTV_2": [square_contour(image, 3, 1.5, 3.5)]},
    )
    assert rtstruct_roi_names(path) == ["GTV", "GTV_2"]
    mask = read_rtstruct(path, image, roi="GTV")
    assert mask.meta["roi"] == "GTV" and mask.data[2].any() and not mask.data[3].any()


def test_an_roi_drawn_beside_the_image_is_refused_not_empty(tmp_path, image):
    # Contours on the image's slices but beside its rows and columns (another field of view) gave an
    # empty mask without a word; a contour partly outside keeps the voxels inside.
    from skimage.draw import polygon2mask

    beside = write_structure_set(tmp_path / "rs.dcm", {"GTV": [square_contour(image, 2, -40.5, -30.5)]})
    with pytest.raises(GeometryError, match=r"ROI 'GTV' covers no voxel centre of the image"):
        read_rtstruct(beside, image)
    partly = write_structure_set(tmp_path / "partly.dcm", {"GTV": [square_contour(image, 2, 8.5, 20.5)]})
    expected = np.zeros(image.shape, bool)
    expected[2] = polygon2mask(image.shape[1:], [(8.5, 8.5), (8.5, 20.5), (20.5, 20.5), (20.5, 8.5)])
    assert expected.sum() == 9
    np.testing.assert_array_equal(read_rtstruct(partly, image).data, expected)


def test_an_roi_of_another_frame_of_reference_is_refused(tmp_path, image):
    # Contours drawn in another frame of reference (another scanner's or session's coordinates) were
    # rasterised on the image as if its coordinates were theirs, without a word.
    from skimage.draw import polygon2mask

    drawn = Volume(
        image.data, image.spacing, image.origin, image.direction, {"frame_of_reference_uid": "1.2.3"}
    )
    square = [square_contour(image, 2, 1.5, 6.5)]
    expected = np.zeros(image.shape, bool)
    expected[2] = polygon2mask(image.shape[1:], [(1.5, 1.5), (1.5, 6.5), (6.5, 6.5), (6.5, 1.5)])
    same = write_structure_set(tmp_path / "same.dcm", {"GTV": square}, frame_of_reference="1.2.3")
    np.testing.assert_array_equal(read_rtstruct(same, drawn).data, expected)
    np.testing.assert_array_equal(read_rtstruct(same, image).data, expected)  # the image names none
    other = write_structure_set(tmp_path / "other.dcm", {"GTV": square}, frame_of_reference="1.2.4")
    with pytest.raises(
        GeometryError, match=r"ROI 'GTV' lies in the frame of reference 1\.2\.4, the image in 1\.2\.3"
    ):
        read_rtstruct(other, drawn)


def test_rois_sharing_an_roi_number_are_refused_not_merged(tmp_path, image):
    # Two ROIs numbered 1 (an invalid export): roi="GTV" took the contours of both, 'Body' included
    # (125 voxels for GTV's 25).
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {"GTV": [square_contour(image, 2, 1.5, 6.5)], "Body": [square_contour(image, 3, 0.5, 10.5)]},
    )
    ds = pydicom.dcmread(path)
    ds.StructureSetROISequence[1].ROINumber = ds.ROIContourSequence[1].ReferencedROINumber = 1
    ds.save_as(path)
    with pytest.raises(DicomError, match=r"ROIs 'Body', 'GTV' share the ROINumber 1.*renumber"):
        read_rtstruct(path, image, roi="GTV")


def test_a_contour_across_the_image_slices_is_named_as_such(tmp_path, image):
    # A contour drawn on another orientation's plane (its points on slices 1 to 3 of this image) was
    # reported as lying "between image slices (index 2.00)", which its median does not.
    square = square_contour(image, 2, 1.5, 6.5)
    square[:2] -= image.direction[:, 0] * image.spacing[0]  # two corners one slice lower (index 1)
    square[2:] += image.direction[:, 0] * image.spacing[0]  # the others one slice higher (index 3)
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": [square]})
    with pytest.raises(GeometryError, match=r"'GTV' is not in one plane .* slice indices 1\.00 to 3\.00"):
        read_rtstruct(path, image)


def test_an_roi_of_a_coarser_series_is_refused_not_striped(tmp_path, image):
    # A structure set drawn on a 3 mm series, read on a 1 mm series of the same frame of reference
    # (thin and thick reconstructions, a co-registered MR), marked only the image slices its contours
    # fell on: slices 3, 6 and 9, the 6 slices between them empty, without a word.
    from skimage.draw import polygon2mask

    def series(uid: str, step: float, n: int) -> Volume:
        meta = {"series_uid": uid, "frame_of_reference_uid": "1.2.3"}
        return Volume(np.zeros((n, 12, 12), np.int16), (step, 0.8, 1.1), image.origin, image.direction, meta)

    thick, thin = series("1.2.3.1", 3.0, 5), series("1.2.3.2", 1.0, 13)
    squares = [square_contour(thick, k, 1.5, 6.5) for k in (1, 2, 3)]
    path = write_structure_set(
        tmp_path / "rs.dcm", {"GTV": squares}, frame_of_reference="1.2.3", series="1.2.3.1"
    )
    square = polygon2mask((12, 12), [(1.5, 1.5), (1.5, 6.5), (6.5, 6.5), (6.5, 1.5)])
    expected = np.zeros(thick.shape, bool)
    expected[1:4] = square
    np.testing.assert_array_equal(read_rtstruct(path, thick).data, expected)
    with pytest.raises(
        GeometryError,
        match=r"'GTV' was drawn on the series 1\.2\.3\.1, not on this image's: its contours lie on one slice "
        r"in 3 of this image \(slices 3, 6, 9\)",
    ):
        read_rtstruct(path, thin)
    # Another series of the same slices (a PET of a PET/CT) takes every contour's slice.
    np.testing.assert_array_equal(read_rtstruct(path, series("1.2.3.3", 3.0, 5)).data, expected)


def test_an_roi_read_on_its_series_resampled_along_z_is_refused_not_striped(tmp_path, image):
    # The series the ROI was drawn on, resampled from 3 mm to 1 mm slices (the IBSI workflow), took the
    # contours on one slice in 3 (its meta names the same series), the slices between empty.
    from skimage.draw import polygon2mask

    from gpuimg.preprocess import resample

    drawn = Volume(np.zeros((5, 12, 12), np.int16), (3.0, 0.8, 1.1), image.origin, image.direction)
    gpuimg.write_dicom(drawn, tmp_path / "ct")
    drawn = gpuimg.read_dicom(tmp_path / "ct", device="cpu")
    squares = [square_contour(drawn, k, 1.5, 6.5) for k in (1, 2, 3)]
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {"GTV": squares},
        frame_of_reference=drawn.meta["frame_of_reference_uid"],
        series=drawn.meta["series_uid"],
    )
    expected = np.zeros(drawn.shape, bool)
    expected[1:4] = polygon2mask((12, 12), [(1.5, 1.5), (1.5, 6.5), (6.5, 6.5), (6.5, 1.5)])
    np.testing.assert_array_equal(read_rtstruct(path, drawn).data, expected)
    finer = resample(drawn, new_spacing=(1.0, 0.8, 1.1))
    assert finer.meta["series_uid"] == drawn.meta["series_uid"] and finer.shape[0] == 15
    with pytest.raises(
        GeometryError,
        match=r"this image is that series resampled along z: its contours lie on one slice in 3 ",
    ):
        read_rtstruct(path, finer)


def test_a_name_stored_decomposed_is_found_as_it_is_typed(tmp_path, image):
    # An ROIName stored decomposed (NFD, as macOS writes accented text: "La\u0308sion") looks like
    # "Läsion" typed composed (NFC) but was found by neither the exact, the case-insensitive nor the
    # pattern match: "no ROI matches 'Läsion'; its ROIs are ['Läsion', ...]". "GROSSE ZYSTE" did not find
    # "Große Zyste" (str.lower keeps ß; Unicode's case folding gives ss), and an ROI named "Läsion"
    # composed beside one decomposed was "2 ROIs match", not two ROIs of one name.
    import unicodedata

    from skimage.draw import polygon2mask

    decomposed, sharp = "La\u0308sion_links", "Gro\u00dfe Zyste"
    assert unicodedata.normalize("NFC", decomposed) == "L\u00e4sion_links" != decomposed  # the reference
    path = write_structure_set(
        tmp_path / "rs.dcm",
        {decomposed: [square_contour(image, 2, 1.5, 6.5)], sharp: [square_contour(image, 3, 1.5, 3.5)]},
    )
    assert pydicom.dcmread(path).StructureSetROISequence[0].ROIName == decomposed  # stored decomposed
    assert rtstruct_roi_names(path) == ["L\u00e4sion_links", sharp]
    expected = np.zeros(image.shape, bool)
    expected[2] = polygon2mask(image.shape[1:], [(1.5, 1.5), (1.5, 6.5), (6.5, 6.5), (6.5, 1.5)])
    for roi in ("L\u00e4sion_links", "L\u00c4SION_LINKS", "l\u00e4sion"):
        mask = read_rtstruct(path, image, roi=roi)
        np.testing.assert_array_equal(mask.data, expected)
        assert mask.meta["roi"] == "L\u00e4sion_links"
    expected[:] = False
    expected[3] = polygon2mask(image.shape[1:], [(1.5, 1.5), (1.5, 3.5), (3.5, 3.5), (3.5, 1.5)])
    np.testing.assert_array_equal(read_rtstruct(path, image, roi="GROSSE ZYSTE").data, expected)
    both = write_structure_set(
        tmp_path / "both.dcm",
        {
            "L\u00e4sion": [square_contour(image, 2, 1.5, 6.5)],
            "La\u0308sion": [square_contour(image, 3, 1.5, 3.5)],
        },
    )
    with pytest.raises(DicomError, match=r"ROIs 1 and 2 are both named 'L\u00e4sion'"):
        read_rtstruct(both, image, roi="L\u00e4sion")


@pytest.mark.parametrize(
    ("numbers", "told"),
    [
        (b"", "0 numbers, where each point takes three"),
        (b"1.5\\2\\3\\4", "4 numbers, where each point takes three"),
        (b"1.5\\x\\3", "text that is no number"),
    ],
)
def test_a_contour_of_damaged_contour_data_is_named(tmp_path, image, numbers, told):
    # ContourData without points, of four numbers, or with text that is no number was 'an element of
    # this RTSTRUCT file is damaged or missing (ValueError)', naming neither the ROI nor the element.
    contours = [square_contour(image, k, 1.5, 6.5) for k in (2, 3)]
    path = write_structure_set(tmp_path / "rs.dcm", {"GTV": contours})
    data = path.read_bytes()
    # The first ContourData (3006,0050), explicit VR little endian: tag, "DS", a 2-byte length, value.
    head = data.index(b"\x06\x30\x50\x00DS")
    length = int.from_bytes(data[head + 6 : head + 8], "little")
    # Padded with spaces to the value's length, as DICOM pads a DS: the sequences' lengths hold.
    path.write_bytes(data[: head + 8] + numbers.ljust(length, b" ") + data[head + 8 + length :])
    item = pydicom.dcmread(path).ROIContourSequence[0].ContourSequence[0]
    assert item.get_item("ContourData").value.strip() == numbers
    with pytest.raises(DicomError, match=rf"a contour of ROI 'GTV' has damaged ContourData \({told}"):
        read_rtstruct(path, image)
