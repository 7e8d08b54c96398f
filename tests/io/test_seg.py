"""DICOM SEG segments on the image grid, against SEG files written by highdicom from known masks."""

import numpy as np
import pytest
from seg_files import seg_sources, write_seg

import gpuimg
from gpuimg import DicomError, GeometryError, ParameterError, Volume
from gpuimg.io import read_seg

pytest.importorskip("highdicom")


@pytest.fixture
def series(tmp_path):
    """A CT series on a rotated, anisotropic grid, written and read back, with its pydicom datasets."""
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]])
    volume = Volume(np.zeros((6, 10, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), direction)
    files = gpuimg.write_dicom(volume, tmp_path / "ct")
    sources = seg_sources(files)
    return gpuimg.read_dicom(tmp_path / "ct", device="cpu"), sources


def test_segments_come_back_voxel_for_voxel(tmp_path, series):
    image, sources = series
    rng = np.random.default_rng(0)
    liver = rng.random(image.shape) < 0.3
    tumour = (rng.random(image.shape) < 0.2) & ~liver
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": liver, "Tumour": tumour})
    np.testing.assert_array_equal(read_seg(path, image, "liver").data, liver)
    mask = read_seg(path, image, 2)
    np.testing.assert_array_equal(mask.data, tumour)
    assert mask.meta["roi"] == "Tumour" and mask.spacing == image.spacing
    with pytest.raises(DicomError, match=r"holds 2 segments .*pass segment="):
        read_seg(path, image)
    with pytest.raises(DicomError, match="0 segments matching 'lung'"):
        read_seg(path, image, "lung")


def test_a_seg_of_another_grid_is_refused(tmp_path, series):
    image, sources = series
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": np.ones(image.shape, bool)})
    coarser = Volume(image.data[:, ::2, ::2], (2.5, 1.6, 2.2), image.origin, image.direction)
    # The fix named is gpuimg's own: 'resample the SEG first' named none (gpuimg resamples masks only).
    with pytest.raises(GeometryError, match=r"not on the image's grid.*gpuimg\.preprocess\.resample_mask"):
        read_seg(path, coarser)
    shifted = Volume(
        image.data, image.spacing, np.add(image.origin, image.direction[:, 0] * 1.0), image.direction
    )
    with pytest.raises(GeometryError, match="off the image's voxel grid"):
        read_seg(path, shifted)
    with pytest.raises(DicomError, match="not SEG"):
        read_seg(next((tmp_path / "ct").iterdir()), image)


def test_a_bad_segment_or_reference_is_named_not_blamed_on_the_file(tmp_path, series):
    # np.int64(2) (a segment number taken from an array) went to the label search: an AttributeError
    # reported as "an element of this SEG file is damaged or missing", as was an array as reference.
    image, sources = series
    rng = np.random.default_rng(1)
    first, second = rng.random(image.shape) < 0.3, rng.random(image.shape) < 0.3
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": first, "Lesion (left)": second})
    np.testing.assert_array_equal(read_seg(path, image, np.int64(2)).data, second)
    with pytest.raises(ParameterError, match=r"reference=ndarray: pass the image the SEG was drawn on"):
        read_seg(path, image.data, 1)
    with pytest.raises(ParameterError, match=r"segment=2.5 must be a SegmentNumber \(int\)"):
        read_seg(path, image, 2.5)
    with pytest.raises(ParameterError, match=r"segment='lesion \(' is no name .* re.escape"):
        read_seg(path, image, "lesion (")


def test_a_labelmap_seg_gives_each_segment(tmp_path, series):
    # A LABELMAP SEG (one frame per slice, each pixel a segment number, no per-frame segment) was
    # refused as "incomplete; export it again".
    import highdicom as hd

    image, sources = series
    rng = np.random.default_rng(2)
    liver = rng.random(image.shape) < 0.3
    tumour = (rng.random(image.shape) < 0.2) & ~liver
    kind = getattr(hd.seg.SegmentationTypeValues, "LABELMAP", None)
    if kind is None:
        pytest.skip(f"highdicom {hd.__version__} writes no LABELMAP SEG")
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": liver, "Tumour": tumour}, kind=kind)
    for segment, expected in (("Liver", liver), (2, tumour)):
        np.testing.assert_array_equal(read_seg(path, image, segment).data, expected)


def test_spaces_around_a_segment_label_are_not_part_of_it(tmp_path, series):
    # DICOM ignores leading and trailing spaces of an LO value such as SegmentLabel; " Liver" kept its
    # space, so segment="Liver" matched it only as a pattern, and "Liver_2" too: "2 segments matching".
    import pydicom

    image, sources = series
    rng = np.random.default_rng(3)
    first, second = rng.random(image.shape) < 0.3, rng.random(image.shape) < 0.3
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": first, "Liver_2": second & ~first})
    ds = pydicom.dcmread(path)
    ds.SegmentSequence[0].SegmentLabel = " Liver"
    ds.save_as(path)
    mask = read_seg(path, image, "Liver")
    np.testing.assert_array_equal(mask.data, first)
    assert mask.meta["roi"] == "Liver"


def test_overlapping_segments_on_some_slices_in_any_frame_order(tmp_path, series):
    # Two overlapping segments, one on two slices only, the frames shuffled: each equals highdicom's
    # reading, which places frames by the source image each derives from, not by position.
    import highdicom as hd
    import pydicom
    from pydicom.pixels import pack_bits

    image, sources = series
    rng = np.random.default_rng(4)
    liver = rng.random(image.shape) < 0.4
    lesion = np.zeros(image.shape, bool)
    lesion[2:4] = rng.random((2, *image.shape[1:])) < 0.5
    assert (liver & lesion).any()
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": liver, "Lesion": lesion})
    ds = pydicom.dcmread(path)
    order = rng.permutation(int(ds.NumberOfFrames))
    ds.PixelData = pack_bits(ds.pixel_array[order].ravel())
    groups = list(ds.PerFrameFunctionalGroupsSequence)
    ds.PerFrameFunctionalGroupsSequence = [groups[i] for i in order]
    ds.save_as(path)
    seg = hd.seg.segread(path)
    uids = [s.SOPInstanceUID for s in sorted(sources, key=lambda s: int(s.InstanceNumber))]
    for number, expected in ((1, liver), (2, lesion)):
        read = seg.get_pixels_by_source_instance(uids, segment_numbers=[number])[..., 0] > 0
        np.testing.assert_array_equal(read, expected)  # the shuffled file still holds the masks
        np.testing.assert_array_equal(read_seg(path, image, number).data, read)


def test_an_empty_segment_or_one_beside_the_image_is_refused_not_empty(tmp_path, series):
    # A segment marking no pixel, or whose frames lie beside the image's rows and columns, came back
    # as an empty mask without a word (read_rtstruct refuses both).
    import pydicom

    image, sources = series
    liver = np.random.default_rng(5).random(image.shape) < 0.3
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": liver, "Nothing": np.zeros(image.shape, bool)})
    with pytest.raises(DicomError, match=r"segment 2 \('Nothing'\) marks no pixel in any frame"):
        read_seg(path, image, "Nothing")
    ds = pydicom.dcmread(path)
    column = image.direction[:, 2] * image.spacing[2]  # one voxel along the rows
    for group in ds.PerFrameFunctionalGroupsSequence:
        plane = group.PlanePositionSequence[0]
        plane.ImagePositionPatient = [float(v) for v in np.add(plane.ImagePositionPatient, 40 * column)]
    ds.save_as(tmp_path / "beside.dcm")
    with pytest.raises(
        GeometryError, match=rf"segment 1 \('Liver'\) covers no voxel of the image: its {liver.sum()} pixels"
    ):
        read_seg(tmp_path / "beside.dcm", image, "Liver")


def test_a_seg_of_another_frame_of_reference_or_shared_segment_numbers_is_refused(tmp_path, series):
    # A SEG in another frame of reference was placed on the image as if its coordinates were the
    # image's; two segments numbered 1 had their frames merged under the second's label.
    import pydicom

    image, sources = series
    rng = np.random.default_rng(6)
    first, second = rng.random(image.shape) < 0.3, rng.random(image.shape) < 0.3
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": first, "Spleen": second & ~first})
    assert pydicom.dcmread(path).FrameOfReferenceUID == image.meta["frame_of_reference_uid"]
    np.testing.assert_array_equal(read_seg(path, image, "Liver").data, first)
    ds = pydicom.dcmread(path)
    ds.FrameOfReferenceUID = "1.2.3"
    ds.save_as(tmp_path / "other.dcm")
    with pytest.raises(GeometryError, match=r"the SEG lies in the frame of reference 1\.2\.3, the image in"):
        read_seg(tmp_path / "other.dcm", image, "Liver")
    ds = pydicom.dcmread(path)
    ds.SegmentSequence[1].SegmentNumber = 1
    ds.save_as(tmp_path / "shared.dcm")
    with pytest.raises(DicomError, match=r"several segments share the SegmentNumber 1"):
        read_seg(tmp_path / "shared.dcm", image, "Liver")


def test_a_fractional_segment_below_one_half_everywhere_says_so(tmp_path, series):
    # A FRACTIONAL segment whose fractions are all below one half (0.3: in nowhere, by the rule that
    # a voxel is in from half of MaximumFractionalValue) was called "an empty segment".
    import highdicom as hd
    import pydicom

    image, sources = series
    weak = np.zeros(image.shape, bool)
    weak[1:3, 2:5, 3:7] = True
    path = write_seg(
        tmp_path / "seg.dcm", sources, {"Oedema": weak}, kind=hd.seg.SegmentationTypeValues.FRACTIONAL
    )
    ds = pydicom.dcmread(path)
    fractions = ds.pixel_array / float(ds.MaximumFractionalValue)
    ds.PixelData = np.round(fractions * 0.3 * float(ds.MaximumFractionalValue)).astype(np.uint8).tobytes()
    ds.save_as(path)
    assert 0 < (pydicom.dcmread(path).pixel_array / float(ds.MaximumFractionalValue)).max() < 0.5
    with pytest.raises(
        DicomError, match=r"'Oedema'\) has no pixel of at least half its MaximumFractionalValue"
    ):
        read_seg(path, image)


def test_a_number_of_an_odd_length_in_a_seg_is_a_dicom_error(tmp_path, series):
    # A SegmentNumber (US) of one byte: pydicom's BytesLengthException, which derives from Exception
    # only, escaped read_seg as it was (found by test_damaged_files' fuzzing).
    import pydicom

    image, sources = series
    path = write_seg(tmp_path / "seg.dcm", sources, {"Liver": np.ones(image.shape, bool)})
    data = path.read_bytes()
    number = b"\x62\x00\x04\x00US\x02\x00\x01\x00"  # (0062,0004) SegmentNumber, US, 2 bytes: 1
    assert data.count(number) == 1
    path.write_bytes(data.replace(number, b"\x62\x00\x04\x00US\x01\x00\x01"))
    with pytest.raises(pydicom.errors.BytesLengthException):  # the reference: pydicom cannot read it
        pydicom.dcmread(path).SegmentSequence[0].SegmentNumber  # noqa: B018
    with pytest.raises(DicomError, match=r"seg\.dcm: an element of this SEG file is damaged or missing"):
        read_seg(path, image)


def test_a_labelmap_segs_background_is_not_a_segment(tmp_path, series):
    # highdicom writes a LABELMAP SEG's background as segment 0 ('Background', its PixelPaddingValue):
    # a SEG of one drawn segment was refused without segment= ("holds 2 segments (['0: Background',
    # '1: Liver'])"), and segment=0 gave the pixels of no segment as a mask.
    import highdicom as hd

    image, sources = series
    kind = getattr(hd.seg.SegmentationTypeValues, "LABELMAP", None)
    if kind is None:
        pytest.skip(f"highdicom {hd.__version__} writes no LABELMAP SEG")
    rng = np.random.default_rng(7)
    liver = rng.random(image.shape) < 0.3
    tumour = (rng.random(image.shape) < 0.2) & ~liver
    one = write_seg(tmp_path / "one.dcm", sources, {"Liver": liver}, kind=kind)
    assert hd.seg.segread(one).segment_numbers == [1]  # the reference: highdicom's segments
    mask = read_seg(one, image)
    np.testing.assert_array_equal(mask.data, liver)
    assert mask.meta["roi"] == "Liver"
    with pytest.raises(DicomError, match=r"segment 0 of this LABELMAP SEG is its background.*\['1: Liver'\]"):
        read_seg(one, image, 0)
    two = write_seg(tmp_path / "two.dcm", sources, {"Liver": liver, "Tumour": tumour}, kind=kind)
    assert hd.seg.segread(two).segment_numbers == [1, 2]
    with pytest.raises(DicomError, match=r"holds 2 segments \(\['1: Liver', '2: Tumour'\]\)"):
        read_seg(two, image)


def test_a_seg_of_a_coarser_series_is_refused_not_striped(tmp_path, series):
    # A SEG made on a 2.5 mm series, read on a 1.25 mm series of the same frame of reference and
    # in-plane grid (a thin reconstruction of the same scan), placed its frames on slices 2, 4 and 6 of
    # the image, the slices between them empty, without a word.
    import dataclasses

    from gpuimg.preprocess import resample

    image, sources = series
    lesion = np.zeros(image.shape, bool)
    lesion[1:4, 2:6, 3:8] = True
    path = write_seg(tmp_path / "seg.dcm", sources, {"Lesion": lesion})
    np.testing.assert_array_equal(read_seg(path, image).data, lesion)
    meta = {"series_uid": "1.2.3.4", "frame_of_reference_uid": image.meta["frame_of_reference_uid"]}
    thin = Volume(
        np.zeros((11, *image.shape[1:]), np.int16),
        (1.25, *image.spacing[1:]),
        image.origin,
        image.direction,
        meta,
    )
    with pytest.raises(
        GeometryError,
        match=r"segment 1 \('Lesion'\) was drawn on the series [\d.]+, not on this image's: its frames lie "
        r"on one slice in 2 of this image \(slices 2, 4, 6\)",
    ):
        read_seg(path, thin)
    # Another series of the same slices (a second phase of the scan) takes every frame's slice.
    other = dataclasses.replace(image, meta=meta)
    np.testing.assert_array_equal(read_seg(path, other).data, lesion)
    # Its own series resampled along z (2.5 to 0.83 mm; the meta names the same series) likewise.
    finer = resample(image, new_spacing=(2.5 / 3, *image.spacing[1:]))
    assert finer.meta["series_uid"] == image.meta["series_uid"] and finer.shape[0] == 18
    with pytest.raises(
        GeometryError, match=r"this image is that series resampled along z: its frames lie on one"
    ):
        read_seg(path, finer)


def test_a_label_stored_decomposed_is_found_as_it_is_typed(tmp_path, series):
    # A SegmentLabel stored decomposed (NFD, as macOS writes accented text) was not found by the label
    # typed composed (NFC), which looks the same: "0 segments matching 'Läsion'".
    import unicodedata

    import pydicom

    image, sources = series
    rng = np.random.default_rng(8)
    first, second = rng.random(image.shape) < 0.3, rng.random(image.shape) < 0.3
    path = write_seg(tmp_path / "seg.dcm", sources, {"Lesion": first, "Liver": second & ~first})
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SegmentSequence[0].SegmentLabel = "La\u0308sion"
    ds.save_as(path)
    assert unicodedata.normalize("NFC", "La\u0308sion") == "L\u00e4sion"  # the reference
    assert pydicom.dcmread(path).SegmentSequence[0].SegmentLabel == "La\u0308sion"
    for segment in ("L\u00e4sion", "l\u00c4SION"):
        mask = read_seg(path, image, segment)
        np.testing.assert_array_equal(mask.data, first)
        assert mask.meta["roi"] == "L\u00e4sion"


def test_a_seg_whose_header_contradicts_its_frames_is_refused_not_misread(tmp_path, series):
    # Three damaged headers gave a wrong mask without a word: a FRACTIONAL SEG's MaximumFractionalValue
    # 0 put every pixel of its frames in the segment (at least half of 0), 240 voxels for the 24 drawn;
    # one per-frame functional group for two frames placed the first frame only (12 voxels of 24), as
    # highdicom reads it too; SegmentationType 'PROBABILITY' (none of DICOM's) was read as BINARY.
    import highdicom as hd
    import pydicom

    image, sources = series
    lesion = np.zeros(image.shape, bool)
    lesion[1:3, 2:5, 3:7] = True
    path = write_seg(
        tmp_path / "seg.dcm", sources, {"Lesion": lesion}, kind=hd.seg.SegmentationTypeValues.FRACTIONAL
    )
    np.testing.assert_array_equal(read_seg(path, image).data, lesion)

    def damaged(name, change):
        ds = pydicom.dcmread(path)
        change(ds)
        ds.save_as(tmp_path / name)
        return tmp_path / name

    def highdicom_pixels(damaged_path):  # the reference
        return hd.seg.segread(damaged_path).get_pixels_by_source_instance([s.SOPInstanceUID for s in sources])

    zero = damaged("zero.dcm", lambda ds: setattr(ds, "MaximumFractionalValue", 0))
    with pytest.raises(RuntimeError, match="greater than the MaximumFractionalValue"):
        highdicom_pixels(zero)
    with pytest.raises(DicomError, match=r"zero\.dcm: its MaximumFractionalValue .* is 0, not positive"):
        read_seg(zero, image)
    low = damaged("low.dcm", lambda ds: setattr(ds, "MaximumFractionalValue", 100))
    with pytest.raises(DicomError, match=r"is 100, below its stored value 255"):
        read_seg(low, image)
    unknown = damaged("unknown.dcm", lambda ds: setattr(ds, "SegmentationType", "PROBABILITY"))
    with pytest.raises(ValueError, match="'PROBABILITY' is not a valid"):
        highdicom_pixels(unknown)
    with pytest.raises(DicomError, match=r"SegmentationType is 'PROBABILITY', not one of BINARY, FRACTIONAL"):
        read_seg(unknown, image)

    def one_group(ds):
        ds.PerFrameFunctionalGroupsSequence = list(ds.PerFrameFunctionalGroupsSequence)[:1]

    def two_groups_each(ds):
        ds.PerFrameFunctionalGroupsSequence = list(ds.PerFrameFunctionalGroupsSequence) * 2

    for name, change, groups in (("fewer.dcm", one_group, 1), ("more.dcm", two_groups_each, 4)):
        ds = pydicom.dcmread(damaged(name, change))
        # The standard's rule (PS3.3 C.7.6.16): one per-frame functional group a frame.
        assert (int(ds.NumberOfFrames), len(ds.PerFrameFunctionalGroupsSequence)) == (2, groups)
        with pytest.raises(DicomError, match=rf"holds 2 frames and {groups} per-frame group"):
            read_seg(tmp_path / name, image)


def test_a_segment_is_read_decoding_its_own_frames_only(tmp_path):
    # Every frame of every segment was decoded at once, a byte a pixel: a 5-segment BINARY SEG of a
    # 512 x 512 x 1000 series held 1.3 GB to read one segment. Now the segment's frames, one at a time:
    # the mask, the file's packed bits and a frame.
    from traced import traced_peak

    direction = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # axial, read back as written
    volume = Volume(np.zeros((8, 192, 192), np.int16), (2.0, 0.7, 0.7), (0.0, 0.0, 0.0), direction)
    files = gpuimg.write_dicom(volume, tmp_path / "ct")
    image = gpuimg.read_dicom(tmp_path / "ct", device="cpu")
    rng = np.random.default_rng(5)
    masks = {f"Organ {n}": rng.random(image.shape) < 0.4 for n in range(1, 6)}  # overlapping: 40 frames
    path = write_seg(tmp_path / "seg.dcm", seg_sources(files), masks)
    mask, peak = traced_peak(lambda: read_seg(path, image, "Organ 3"))
    np.testing.assert_array_equal(mask.data, masks["Organ 3"])
    # The mask (a byte a voxel), the file (5 segments' packed bits: 0.63 bytes a voxel) read and its
    # pixel data converted by pydicom, a few frames' temporaries: 2.8 bytes a voxel. Every segment's
    # frames decoded took 5 more: 7.7.
    voxels, frame = int(np.prod(image.shape)), image.shape[1] * image.shape[2]
    assert peak < voxels + 2 * path.stat().st_size + 8 * frame, peak / voxels


def test_a_mask_beyond_the_memory_budget_is_refused_before_it_is_drawn(tmp_path, series, monkeypatch):
    from gpuimg.errors import MemoryBudgetError

    image, sources = series
    lesion = np.zeros(image.shape, bool)
    lesion[1:3, 2:5, 3:7] = True
    path = write_seg(tmp_path / "seg.dcm", sources, {"Lesion": lesion})
    voxels = int(np.prod(image.shape))  # a byte each
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(voxels - 1))
    with pytest.raises(
        MemoryBudgetError, match=r"seg\.dcm: the SEG's mask on the image's 6 x 10 x 12 voxels"
    ):
        read_seg(path, image)
    monkeypatch.setenv("GPUIMG_MAX_BYTES", str(voxels))
    np.testing.assert_array_equal(read_seg(path, image).data, lesion)


def test_binary_frames_that_start_inside_a_byte_come_back_voxel_for_voxel(tmp_path):
    # A BINARY SEG packs its frames' bits one after the other: with 7 x 9 = 63 pixels a frame, frame 1
    # starts at bit 63, inside a byte. Decoding one frame at a time with pydicom failed there
    # ("cannot reshape array of size 57 into shape (7,9)", reported as a damaged file).
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]])
    volume = Volume(np.zeros((5, 7, 9), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), direction)
    files = gpuimg.write_dicom(volume, tmp_path / "ct")
    image = gpuimg.read_dicom(tmp_path / "ct", device="cpu")
    rng = np.random.default_rng(3)
    masks = {f"Part {n}": rng.random(image.shape) < 0.5 for n in range(1, 4)}  # overlapping: 15 frames
    path = write_seg(tmp_path / "seg.dcm", seg_sources(files), masks)
    for number, expected in enumerate(masks.values(), start=1):
        np.testing.assert_array_equal(read_seg(path, image, number).data, expected)


@pytest.mark.parametrize("kind", ["BINARY", "FRACTIONAL"])
def test_a_seg_without_its_meta_header_is_read_as_its_encoding_says(tmp_path, series, kind):
    # A file of the dataset alone (no preamble, no file meta: no TransferSyntaxUID), which read_dicom
    # reads by the encoding pydicom found: a FRACTIONAL SEG's frames were refused as damaged ("the
    # pixel data cannot be decoded ... the dataset's 'file_meta' has no ... 'Transfer Syntax UID'").
    import highdicom as hd
    import pydicom

    image, sources = series
    lesion = np.zeros(image.shape, bool)
    lesion[1:4, 2:6, 3:8] = True
    path = write_seg(
        tmp_path / "seg.dcm", sources, {"Lesion": lesion}, kind=hd.seg.SegmentationTypeValues[kind]
    )
    ds = pydicom.dcmread(path)
    del ds.file_meta
    ds.preamble = None
    pydicom.dcmwrite(
        tmp_path / "raw.dcm", ds, enforce_file_format=False, implicit_vr=False, little_endian=True
    )
    assert "TransferSyntaxUID" not in pydicom.dcmread(tmp_path / "raw.dcm", force=True).file_meta
    np.testing.assert_array_equal(read_seg(tmp_path / "raw.dcm", image).data, lesion)
