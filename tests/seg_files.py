"""DICOM SEG files written by highdicom from known masks, for the tests that read them."""

import numpy as np
import pydicom


def seg_sources(files) -> list[pydicom.Dataset]:
    """The datasets of an image series' ``files``, with the type 2 attributes highdicom copies from them."""
    sources = [pydicom.dcmread(f) for f in files]
    for ds in sources:
        for keyword in ("PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "ReferringPhysicianName"):
            setattr(ds, keyword, ds.get(keyword, ""))
        ds.StudyID, ds.AccessionNumber = ds.get("StudyID", "1"), ds.get("AccessionNumber", "")
    return sources


def write_seg(path, sources, masks: dict, kind=None):
    """A SEG of one segment per label in ``masks`` ({label: (slices, rows, columns) bool}), by highdicom;
    ``kind`` a ``highdicom.seg.SegmentationTypeValues`` (default BINARY). Overlapping masks go in as
    one array per segment (BINARY, FRACTIONAL), others as one label array."""
    import highdicom as hd

    kind = hd.seg.SegmentationTypeValues.BINARY if kind is None else kind
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
    if sum(np.count_nonzero(mask) for mask in masks.values()) > np.count_nonzero(labels):  # overlapping
        labels = np.stack(list(masks.values()), axis=-1).astype(np.uint8)
    seg = hd.seg.Segmentation(
        source_images=sources,
        pixel_array=labels.astype(np.float32) if kind == hd.seg.SegmentationTypeValues.FRACTIONAL else labels,
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
