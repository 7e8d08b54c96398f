"""RTSTRUCT rasterising: body contours filled by ``read_rtstruct``'s row fill and by scikit-image.

    python benchmarks/bench_rtstruct.py [--slices 1000] [--size 512] [--points 1200] [--compare 8]
                                        [--before REV] [--repeat 3]

The contours are what a planning system exports for a patient's body outline on a CT: one closed
contour a slice, ``--points`` points about a pixel apart around an ellipse that fills most of the
``--size`` x ``--size`` slice, its radii and wobble changing from slice to slice. Times, best of
``--repeat`` runs:

- the fill alone on the first ``--compare`` slices, ``gpuimg.io.rtstruct._inside`` against
  :func:`skimage.draw.polygon2mask` on the same contours (voxel indices), with the count of pixels
  where they differ (centres exactly on an edge, which ``_inside`` counts on the edge's low side only;
  none for these contours);
- with ``--before REV``, the same fill by ``_inside`` of ``gpuimg/io/rtstruct.py`` at REV, which must
  give the same pixels;
- ``read_rtstruct`` of the whole structure set written as a file (``--slices`` slices; parsing the
  contours, placing them on the image's grid, filling), once.
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from skimage.draw import polygon2mask
from timing import best_time, revision_file

from gpuimg import Volume
from gpuimg.io import read_rtstruct
from gpuimg.io.rtstruct import _inside


def body_contours(slices: int, size: int, points: int, seed: int = 0) -> list[np.ndarray]:
    """One closed body outline a slice, as (points, 2) continuous (row, column) voxel indices."""
    rng = np.random.default_rng(seed)
    angle = np.linspace(0, 2 * np.pi, points, endpoint=False)
    outlines = []
    for k in range(slices):
        radii = size * np.array([0.38, 0.46]) * (1 - 0.1 * np.sin(k / max(slices, 1) * np.pi))
        wobble = 1 + 0.03 * np.sin(5 * angle + k / 7) + rng.normal(0, 0.002, points)
        rows = size / 2 + radii[0] * wobble * np.sin(angle)
        columns = size / 2 + radii[1] * wobble * np.cos(angle)
        outlines.append(np.column_stack([rows, columns]))
    return outlines


def _revision_inside(revision: str, folder: Path):
    """``_inside`` of ``gpuimg/io/rtstruct.py`` at ``revision``."""
    path = revision_file(revision, "gpuimg/io/rtstruct.py", folder, "rtstruct_before.py")
    spec = importlib.util.spec_from_file_location("gpuimg.io._rtstruct_before", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._inside


def _write(path: Path, image: Volume, outlines: list[np.ndarray]) -> Path:
    """An RTSTRUCT holding the outlines as one ROI, "BODY", one contour on each slice of ``image``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    roi, item = pydicom.Dataset(), pydicom.Dataset()
    roi.ROINumber, roi.ROIName = 1, "BODY"
    item.ReferencedROINumber, item.ContourSequence = 1, []
    for k, outline in enumerate(outlines):
        index = np.column_stack([np.full(len(outline), k), outline])
        lps = image.origin + (index * image.spacing) @ image.direction.T
        contour = pydicom.Dataset()
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = len(outline)
        contour.ContourData = [f"{v:.6g}" for v in lps.ravel()]
        item.ContourSequence.append(contour)
    ds.StructureSetROISequence, ds.ROIContourSequence = [roi], [item]
    ds.save_as(path, enforce_file_format=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=1000)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--points", type=int, default=1200)
    parser.add_argument("--compare", type=int, default=8, help="slices filled by both (polygon2mask is slow)")
    parser.add_argument("--before", help="a git revision whose _inside is timed too")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    shape = (args.size, args.size)
    outlines = body_contours(args.slices, args.size, args.points)
    compared = outlines[: args.compare]
    print(f"{args.compare} body contours of {args.points} points on {args.size}x{args.size} slices")
    ours, masks = best_time(lambda: [_inside(shape, o[:, 0], o[:, 1]) for o in compared], args.repeat)
    theirs, expected = best_time(lambda: [polygon2mask(shape, o) for o in compared], args.repeat)
    differ = sum(int((m != e).sum()) for m, e in zip(masks, expected, strict=True))
    slices = len(compared)
    print(f"  gpuimg _inside               {ours / slices * 1e3:9.3f} ms a slice")
    print(f"  skimage.draw.polygon2mask    {theirs / slices * 1e3:9.3f} ms a slice   {theirs / ours:7.1f}x")
    print(f"  pixels that differ: {differ} of {sum(int(e.sum()) for e in expected)} inside")
    if args.before:
        with tempfile.TemporaryDirectory() as folder:
            before_inside = _revision_inside(args.before, Path(folder))
            before, old = best_time(
                lambda: [before_inside(shape, o[:, 0], o[:, 1]) for o in compared], args.repeat
            )
        same = all(np.array_equal(m, e) for m, e in zip(masks, old, strict=True))
        print(
            f"  _inside at {args.before:<17} {before / slices * 1e3:9.3f} ms a slice   {before / ours:7.1f}x"
        )
        print(f"  same pixels as {args.before}: {same}")

    c, s = np.cos(0.2), np.sin(0.2)  # an oblique grid: the contours go through the direction too
    direction = np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    image = Volume(
        np.zeros((args.slices, *shape), np.int16), (2.5, 0.9, 0.9), (-300.0, -240.0, -200.0), direction
    )
    with tempfile.TemporaryDirectory() as folder:
        path = _write(Path(folder) / "RS.dcm", image, outlines)
        size = path.stat().st_size / 1e6
        start = time.perf_counter()
        mask = read_rtstruct(path, image, "BODY", device="cpu")
        took = time.perf_counter() - start
    print(
        f"read_rtstruct of {args.slices} slices ({size:.0f} MB file): {took:.2f} s, "
        f"{took / args.slices * 1e3:.2f} ms a slice, {int(mask.data.sum())} voxels"
    )


if __name__ == "__main__":
    sys.exit(main())
