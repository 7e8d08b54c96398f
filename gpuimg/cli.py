"""The ``gpuimg`` command.

    gpuimg demo [--device auto|cpu|cuda] [--shape Z Y X]
    gpuimg info

``demo`` runs a small end-to-end job on a synthetic CT volume and says what it did and how long
each step took; ``info`` says which device gpuimg would use and which libraries it found.
"""

import argparse
import importlib.metadata
import sys
import tempfile
import time

import numpy as np

import gpuimg
from gpuimg.backend import namespace_for, resolve_device
from gpuimg.errors import GpuimgError
from gpuimg.features import Settings, extract

#: Sphere of the demo phantom: radius [mm] and contrast to its surroundings [HU].
_LESION_RADIUS_MM = 20.0
_LESION_HU, _TISSUE_HU, _NOISE_HU = 60, 0, 10


def synthetic_ct(shape, spacing, seed: int = 0) -> gpuimg.Volume:
    """An int16 CT-like volume [HU]: a spherical lesion in soft tissue, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    hu = np.where(lesion_mask(shape, spacing), _LESION_HU, _TISSUE_HU) + rng.normal(0, _NOISE_HU, shape)
    return gpuimg.Volume(np.round(hu).astype(np.int16), spacing=spacing, meta={"modality": "CT"})


def lesion_mask(shape, spacing) -> np.ndarray:
    """The voxels of the demo's spherical lesion: within its radius of the volume's centre."""
    centre = (np.array(shape) - 1) / 2 * np.array(spacing)
    z, y, x = np.ogrid[tuple(slice(0, n) for n in shape)]
    r2 = sum(((c * s) - m) ** 2 for c, s, m in zip((z, y, x), spacing, centre, strict=True))
    return r2 <= _LESION_RADIUS_MM**2


def _step(label: str, func):
    start = time.perf_counter()
    result = func()
    print(f"  {label:<58} {time.perf_counter() - start:8.3f} s")
    return result


def demo(device: str, shape: tuple[int, int, int]) -> None:
    """Synthetic CT -> DICOM -> device -> fused Sobel gradient -> lesion boundary -> radiomics, timed."""
    ns = namespace_for(device)
    spacing = (2.0, 0.8, 0.8)
    print(f"gpuimg {gpuimg.__version__} demo on {ns.device}")
    ct = _step(
        f"synthetic CT {'x'.join(map(str, shape))}, spacing {spacing} mm, int16 HU",
        lambda: synthetic_ct(shape, spacing),
    )
    with tempfile.TemporaryDirectory(prefix="gpuimg-demo-") as folder:
        _step(f"written as a DICOM series of {shape[0]} files", lambda: gpuimg.write_dicom(ct, folder))
        ct = _step(
            f"read back onto {ns.device} (HU, LPS geometry)",
            lambda: gpuimg.read_dicom(folder, device=ns.device),
        )
    gradient = _step(
        "Sobel gradient magnitude, one fused pass (compiles first)",
        lambda: gpuimg.edges.gradient_magnitude(ct),
    )
    gradient = _step("the same, compiled", lambda: gpuimg.edges.gradient_magnitude(ct))
    magnitude = gpuimg.to_numpy(gradient.data)
    edges = magnitude > 0.5 * magnitude.max()
    centre = (np.array(shape) - 1) / 2
    distances = np.linalg.norm((np.argwhere(edges) - centre) * np.array(spacing), axis=1)
    print(
        f"  lesion boundary found {distances.mean():.1f} +/- {distances.std():.1f} mm from its centre "
        f"(true radius {_LESION_RADIUS_MM:.1f} mm) in {edges.sum()} edge voxels"
    )
    mask = gpuimg.to_device(lesion_mask(shape, spacing), ns.device)
    settings = Settings(discretisation="fbs", bin_width=10.0, ivh_discretisation="none")
    features = _step(
        "IBSI radiomics of the lesion (morphology, intensity, histograms)",
        lambda: extract(ct, mask, settings=settings),
    )
    sphere_ml = 4 / 3 * np.pi * _LESION_RADIUS_MM**3 / 1000
    print(
        f"  lesion volume {features['morph_volume'] / 1000:.1f} mL (sphere {sphere_ml:.1f} mL), sphericity "
        f"{features['morph_sphericity']:.2f}, mean {features['stat_mean']:.1f} HU (true {_LESION_HU} HU), "
        f"{len(features)} features"
    )


def info() -> None:
    """Print the device gpuimg would use and the versions of the libraries it found."""
    print(f"gpuimg {gpuimg.__version__}, Python {sys.version.split()[0]}")
    print(f"device (auto): {resolve_device('auto')}")
    for package in (
        "numpy",
        "scipy",
        "scikit-image",
        "numba",
        "numba-cuda",
        "cupy-cuda13x",
        "cupy-cuda12x",
        "cucim-cu13",
        "cucim-cu12",
        "cuml-cu13",
        "cuml-cu12",
        "dask",
    ):
        try:
            print(f"  {package:<14} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="gpuimg", description="Medical volume analysis on the GPU, with the same API on the CPU."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_demo = commands.add_parser("demo", help="run a small end-to-end job on a synthetic CT volume")
    run_demo.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to compute (default: GPUIMG_DEVICE, else CUDA if a GPU is usable, else CPU)",
    )
    run_demo.add_argument(
        "--shape",
        type=int,
        nargs=3,
        default=(96, 160, 160),
        metavar=("Z", "Y", "X"),
        help="size of the synthetic volume in voxels (default: 96 160 160)",
    )
    commands.add_parser("info", help="show the device and the libraries gpuimg found")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            if min(args.shape) < 1:
                parser.error(f"--shape needs positive sizes; got {' '.join(map(str, args.shape))}")
            demo(args.device, tuple(args.shape))
        else:
            info()
    except GpuimgError as exc:
        print(f"gpuimg: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
