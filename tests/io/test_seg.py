"""DICOM SEG segments on the image grid, against SEG files written by highdicom from known masks."""

import numpy as np
import pydicom
import pytest

import gpuimg
from gpuimg import DicomError, GeometryError, Volume
from gpuimg.io import read_seg

hd = pytest.importorskip("highdicom")


@pytest.fixture
def series(tmp_path):
    """A CT series on a rotated, anisotropic grid, written and read back, with its pydicom datasets."""
    c, s = np.cos(0.4), np.sin(0.4)
    direction = np.array([[0.0, -s, c], [0.0, c, s], [1.0, 0.0, 0.0]])
    volume = Volume(np.zeros((6, 10, 12), np.int16), (2.5, 0.8, 1.1), (-10.0, 4.0, 7.0), direction)
    files = gpuimg.write_dicom(volume, tmp_path / "ct")
    sources = [pydicom.dcmread(f) for f in files]
    for ds in sources:  # type 2 attributes highdicom copies from its sources
        for keyword in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName"):
            setattr(ds, keyword, ds.get(keyword, ""))
        ds.StudyID, ds.AccessionNumber = ds.get("StudyID", "1"), ds.get("AccessionNumber", "")
    return gpuimg.read_dicom(tmp_path / "ct", device="cpu"), sources


def _seg(path, sources, masks: dict, kind=hd.seg.SegmentationTypeValues.BINARY):
    """A SEG of one segment per label in ``masks`` ({label: (slices, rows, columns) bool}), by highdicom."""
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=label,
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("818981001", "SCT", "Abdomen"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number, label in enumerate(masks, start=1)
    ]
    labels = np.zeros(next(iter(masks.values())).shape, np.uint8)
    for number, mask in enumerate(masks.values(), start=1):
        labels[mask] = number
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labels if kind == hd.seg.SegmentationTypeValues.BINARY else labels.astype(np.float32),
        segmentation_type=kind,
        segment_descriptions=descriptions,
        series_instance_uid=hd.UID(),
        series_number=2,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="gpuimg tests",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="1",
    )
    seg.save_as(path)
    return path


def test_segments_come_back_voxel_for_voxel(tmp_path, series):
    image, sources = series
    rng = np.random.default_rng(0)
    liver = rng.random(image.shape) < 0.3
    tumour = (rng.random(image.shape) < 0.2) & ~liver
    path = _seg(tmp_path / "seg.dcm", sources, {"Liver": liver, "Tumour": tumour})
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
    path = _seg(tmp_path / "seg.dcm", sources, {"Liver": np.ones(image.shape, bool)})
    coarser = Volume(image.data[:, ::2, ::2], (2.5, 1.6, 2.2), image.origin, image.direction)
    with pytest.raises(GeometryError, match="not on the image's grid"):
        read_seg(path, coarser)
    shifted = Volume(
        image.data, image.spacing, np.add(image.origin, image.direction[:, 0] * 1.0), image.direction
    )
    with pytest.raises(GeometryError, match="off the image's voxel grid"):
        read_seg(path, shifted)
    with pytest.raises(DicomError, match="not a SEG"):
        read_seg(next((tmp_path / "ct").iterdir()), image)
