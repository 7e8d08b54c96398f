"""gpuimg.features.extract against PyRadiomics on the same images and masks, one run.

A script, not a test: ``python benchmarks/bench_radiomics.py [--cases lung1 brain1] [--device cpu]``.
For each PyRadiomics test case in ``../shared/data/pyradiomics`` it times PyRadiomics' first-order and
shape classes (its defaults: bin width 25, no resampling) and gpuimg's five families (morphology, local
intensity, intensity statistics, intensity histogram with the same bin width, intensity-volume
histogram) on the same arrays, after one warm-up run of each (Numba compiles on the first), and prints
both times and the ratio gpuimg / PyRadiomics. The same features are checked to agree where the two
define them alike (mean, energy, mesh volume and surface area, maximum 3D diameter).

PyRadiomics is not a dependency of gpuimg and does not install from plain pip on Python 3.11:

    pip install numpy setuptools wheel versioneer
    pip install --no-build-isolation pyradiomics
"""

import argparse
import logging
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from timing import best_time

import gpuimg
from gpuimg.features import Settings, extract

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pyradiomics"
#: gpuimg tag -> PyRadiomics feature, for the features defined alike (PyRadiomics' documentation).
SAME = {
    "stat_mean": "original_firstorder_Mean",
    "stat_energy": "original_firstorder_Energy",
    "morph_volume": "original_shape_MeshVolume",
    "morph_area_mesh": "original_shape_SurfaceArea",
    "morph_diam": "original_shape_Maximum3DDiameter",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["lung1", "brain1"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from radiomics import featureextractor

    logging.getLogger("radiomics").setLevel(logging.ERROR)
    peer = featureextractor.RadiomicsFeatureExtractor(binWidth=25)
    peer.disableAllFeatures()
    peer.enableFeatureClassByName("firstorder")
    peer.enableFeatureClassByName("shape")
    settings = Settings(discretisation="fbs", bin_width=25.0, ivh_discretisation="fbn", ivh_n_bins=1000)

    print(f"{'case':<8} {'ROI voxels':>10} {'PyRadiomics s':>14} {'gpuimg s':>9} {'ratio':>6}  agreement")
    for case in args.cases:
        image_path, mask_path = DATA / f"{case}_image.nrrd", DATA / f"{case}_label.nrrd"
        sitk_image, sitk_mask = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(mask_path))
        image = gpuimg.read_image(image_path, device=args.device)
        mask = gpuimg.read_image(mask_path, device=args.device)
        peer_s, theirs = best_time(lambda i=sitk_image, m=sitk_mask: peer.execute(i, m), args.repeat)

        def ours_run(i=image, m=mask):
            features = extract(i, m, settings=settings)
            if i.device == "cuda":
                i.data.device.synchronize()
            return features

        ours_s, ours = best_time(ours_run, args.repeat)
        agreement = ", ".join(
            f"{tag} {ours[tag] / float(theirs[name]):.4f}"
            for tag, name in SAME.items()
            if float(theirs[name])
        )
        voxels = int(np.count_nonzero(gpuimg.to_numpy(mask.data)))
        print(f"{case:<8} {voxels:>10} {peer_s:>14.3f} {ours_s:>9.3f} {ours_s / peer_s:>6.3f}  {agreement}")


if __name__ == "__main__":
    main()
