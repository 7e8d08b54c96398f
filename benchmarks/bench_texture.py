"""gpuimg's IBSI texture families against PyRadiomics' texture classes on the same images, one run.

A script, not a test: ``python benchmarks/bench_texture.py [--parts cases voxel sts] [--device cpu]``.
Every timing is the best of ``--repeat`` runs after one warm-up run (Numba compiles on the first),
PyRadiomics and gpuimg on the same arrays, masks and bin width (25), and the ratio is gpuimg /
PyRadiomics. Four parts:

- ``cases``: lung1 and brain1 of ``../shared/data/pyradiomics``: PyRadiomics' five texture classes
  (glcm, glrlm, glszm, gldm, ngtdm; 3D; its defaults but GLCM's MCC, which IBSI does not define and
  gpuimg does not compute) against gpuimg's six families (GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM;
  3D, averaged and merged).
- ``voxel``: a voxel-based GLCM map on brain1's ROI, radius 1 (3 x 3 x 3, masked kernel), every GLCM
  feature, averaged over the 13 directions, against PyRadiomics' voxel-based mode (glcm class, no
  MCC). That mode takes minutes, so it runs on the ROI's ``--voxel-slices`` middle slices only and
  its time is scaled by the ROI's voxel count over theirs (printed as "extrapolated").
- ``sts``: the six CTs of ``../shared/data/ibsi/validation_sts`` (DICOM series and
  ``mask_voxels.nii.gz``): all of gpuimg's families (``extract``: morphology, local intensity,
  statistics, histogram, IVH and the six texture families) against PyRadiomics' seven classes
  (firstorder, shape and the five texture classes, GLCM without MCC); the times are summed over the
  six.

- ``labels``: many small ROIs of one image (``extract_labels``; 700 boxes of 5 x 6 x 6 voxels in
  64 x 128 x 128 of noise): gpuimg's six texture families per ROI against PyRadiomics' five texture
  classes run on ``--peer-labels`` of the labels (``label=``), per ROI.

PyRadiomics is not a dependency of gpuimg; install it by hand as ``bench_radiomics.py`` says.
"""

import argparse
import dataclasses
import logging
import warnings
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import best_time

import gpuimg
from gpuimg.features import Settings, extract, extract_labels, glcm_map
from gpuimg.features.glcm import NAMES

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEXTURE = ["glcm", "glrlm", "glszm", "gldzm", "ngtdm", "ngldm"]
PEER_TEXTURE = ["glcm", "glrlm", "glszm", "gldm", "ngtdm"]
SETTINGS = Settings(discretisation="fbs", bin_width=25.0, ivh_discretisation="fbn", ivh_n_bins=1000)


def peer_extractor(classes, **settings):
    from radiomics import featureextractor

    extractor = featureextractor.RadiomicsFeatureExtractor(binWidth=25, **settings)
    extractor.disableAllFeatures()
    for name in classes:
        extractor.enableFeatureClassByName(name)
    if "glcm" in classes:  # without MCC (eigenvalues per matrix), which IBSI does not define
        from radiomics.glcm import RadiomicsGLCM

        names = [
            n for n, deprecated in RadiomicsGLCM.getFeatureNames().items() if not deprecated and n != "MCC"
        ]
        extractor.enableFeaturesByName(glcm=names)
    return extractor


def as_sitk(volume, dtype=None):
    """A SimpleITK image of a Volume's voxels (z, y, x) with its spacing."""
    data = gpuimg.to_numpy(volume.data)
    image = sitk.GetImageFromArray(data if dtype is None else data.astype(dtype))
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    return image


def synchronizer(volume):
    if volume.device == "cuda":
        return volume.data.device.synchronize
    return None


def cases(args):
    peer = peer_extractor(PEER_TEXTURE)
    print("## PyRadiomics' 5 texture classes vs gpuimg's 6 texture families (3D, bin width 25)")
    print(f"{'case':<8} {'ROI voxels':>10} {'PyRadiomics s':>14} {'gpuimg s':>9} {'ratio':>7}")
    for case in ("lung1", "brain1"):
        image = gpuimg.read_image(SHARED / "pyradiomics" / f"{case}_image.nrrd", device=args.device)
        mask = gpuimg.read_image(SHARED / "pyradiomics" / f"{case}_label.nrrd", device=args.device)
        peer_image, peer_mask = as_sitk(image), as_sitk(mask)
        theirs, _ = best_time(lambda i=peer_image, m=peer_mask: peer.execute(i, m), args.repeat)
        ours, _ = best_time(
            lambda i=image, m=mask: extract(i, m, settings=SETTINGS, families=TEXTURE),
            args.repeat,
            synchronizer(image),
        )
        voxels = int(np.count_nonzero(gpuimg.to_numpy(mask.data)))
        print(f"{case:<8} {voxels:>10} {theirs:>14.3f} {ours:>9.3f} {ours / theirs:>7.4f}")


def voxel(args):
    image = gpuimg.read_image(SHARED / "pyradiomics" / "brain1_image.nrrd", device=args.device)
    mask = gpuimg.read_image(SHARED / "pyradiomics" / "brain1_label.nrrd", device=args.device)
    roi = gpuimg.to_numpy(mask.data) != 0
    ours, maps = best_time(
        lambda: glcm_map(image, mask, NAMES, radius=1, settings=SETTINGS, aggregation="averaged"),
        args.repeat,
        synchronizer(image),
    )
    slices = np.flatnonzero(roi.any(axis=(1, 2)))
    middle = slices[len(slices) // 2 - args.voxel_slices // 2 :][: args.voxel_slices]
    subset = np.zeros_like(roi)
    subset[middle] = roi[middle]
    peer = peer_extractor(["glcm"], kernelRadius=1, maskedKernel=True, voxelBatch=4096)
    sub_mask = gpuimg.Volume(subset.astype(np.uint8), spacing=mask.spacing)
    peer_image, peer_mask = as_sitk(image), as_sitk(sub_mask)
    theirs, _ = best_time(lambda: peer.execute(peer_image, peer_mask, voxelBased=True), 1)
    scaled = theirs * roi.sum() / subset.sum()
    finite = sum(int(np.isfinite(gpuimg.to_numpy(m.data)).sum()) for m in maps.values())
    print("## Voxel-based GLCM map, brain1 ROI, radius 1, 25 features averaged over 13 directions")
    print(f"gpuimg: {ours:.3f} s for {roi.sum()} voxels ({finite} finite map values)")
    print(
        f"PyRadiomics: {theirs:.3f} s for {subset.sum()} voxels (slices {middle.tolist()}), "
        f"extrapolated {scaled:.1f} s for {roi.sum()}; ratio gpuimg / PyRadiomics {ours / scaled:.5f}"
    )


def sts(args):
    peer = peer_extractor(["firstorder", "shape", *PEER_TEXTURE])
    print("## validation_sts CTs: all gpuimg families vs PyRadiomics' 7 classes (bin width 25)")
    print(f"{'case':<8} {'voxels':>7} {'PyRadiomics s':>14} {'gpuimg s':>9} {'texture s':>9} {'ratio':>7}")
    total_theirs = total_ours = total_texture = 0.0
    for folder in sorted((SHARED / "ibsi" / "validation_sts").glob("STS_*")):
        image = gpuimg.read_dicom(folder / "CT" / "image", device=args.device)
        mask = gpuimg.read_image(folder / "CT" / "mask_voxels.nii.gz", device=args.device)
        mask = dataclasses.replace(image, data=mask.data)  # drawn on the CT's grid
        peer_image, peer_mask = as_sitk(image, np.float64), as_sitk(mask, np.uint8)
        theirs, _ = best_time(lambda i=peer_image, m=peer_mask: peer.execute(i, m), args.repeat)
        ours, _ = best_time(
            lambda i=image, m=mask: extract(i, m, settings=SETTINGS), args.repeat, synchronizer(image)
        )
        texture, _ = best_time(
            lambda i=image, m=mask: extract(i, m, settings=SETTINGS, families=TEXTURE),
            args.repeat,
            synchronizer(image),
        )
        voxels = int(np.count_nonzero(gpuimg.to_numpy(mask.data)))
        total_theirs, total_ours, total_texture = (
            total_theirs + theirs,
            total_ours + ours,
            total_texture + texture,
        )
        print(
            f"{folder.name:<8} {voxels:>7} {theirs:>14.3f} {ours:>9.3f} {texture:>9.3f} {ours / theirs:>7.4f}"
        )
    ratio = total_ours / total_theirs
    print(
        f"{'all six':<8} {'':>7} {total_theirs:>14.3f} {total_ours:>9.3f} {total_texture:>9.3f} {ratio:>7.4f}"
    )


def labels(args):
    rng = np.random.default_rng(0)
    image = np.rint(rng.normal(0.0, 100.0, (64, 128, 128)))
    regions = np.zeros(image.shape, np.int32)
    corners = [(z, y, x) for z in range(4, 60, 8) for y in range(4, 124, 12) for x in range(4, 124, 12)]
    for label, (z, y, x) in enumerate(corners, 1):
        regions[z : z + 5, y : y + 6, x : x + 6] = label
    volume = gpuimg.Volume(image, spacing=(1.0, 1.0, 1.0))
    ours, _ = best_time(
        lambda: extract_labels(volume, regions, settings=SETTINGS, families=TEXTURE), args.repeat
    )
    peer = peer_extractor(PEER_TEXTURE)
    peer_image = as_sitk(volume)
    peer_labels = as_sitk(gpuimg.Volume(regions, spacing=(1.0, 1.0, 1.0)))
    theirs, _ = best_time(
        lambda: [peer.execute(peer_image, peer_labels, label=k) for k in range(1, args.peer_labels + 1)], 1
    )
    ours_each, theirs_each = ours / len(corners), theirs / args.peer_labels
    print("## extract_labels: 700 ROIs of 180 voxels, six texture families vs PyRadiomics' five, per ROI")
    print(
        f"gpuimg {ours:.2f} s for {len(corners)} ROIs: {ours_each * 1e3:.2f} ms per ROI; PyRadiomics "
        f"{theirs_each * 1e3:.2f} ms per ROI (on {args.peer_labels}); ratio {ours_each / theirs_each:.4f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        default=["cases", "voxel", "sts", "labels"],
        choices=["cases", "voxel", "sts", "labels"],
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--voxel-slices", type=int, default=2)
    parser.add_argument("--peer-labels", type=int, default=50)
    args = parser.parse_args()
    logging.getLogger("radiomics").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")  # features IBSI leaves undefined on some ROIs (NaN) are expected
    for part in args.parts:
        globals()[part](args)
        print()


if __name__ == "__main__":
    main()
