"""gpuimg's own Numba kernels, each family with a CUDA target and a CPU target side by side.

Installed as ``gpuimg.kernels``. Each module holds one family: its per-voxel math as
``numba.njit(inline="always")`` functions, a CPU driver declared with
:func:`~gpuimg.kernels.registry.cpu_kernel`, a CUDA kernel declared with
:func:`~gpuimg.kernels.registry.cuda_kernel`, and one function that runs either target. Everything
compiles lazily, on first use, into Numba's on-disk cache (:mod:`gpuimg.kernels.cache`), so once
per machine. :data:`FAMILIES` lists the modules, so that :func:`load_all` fills the registry for
the PTX check. Five families have no CUDA target: ``mesh``, ``hull``, ``moments`` and
``autocorrelation``, whose caller (the IBSI morphology) runs them on the host for both devices (on
CUDA it takes Moran's and Geary's sums by FFT on the device instead), and ``affine``, whose caller
(``resample(reference=)``) calls cupyx's ``affine_transform`` on the GPU.
"""

import importlib

from .registry import REGISTRY, CudaKernel

#: Every kernel family module.
FAMILIES = (
    "affine",
    "autocorrelation",
    "bilateral",
    "canny",
    "clahe",
    "curvature",
    "diffusion",
    "glcm",
    "glrlm",
    "gradient",
    "histogram",
    "hough",
    "hull",
    "labels",
    "median",
    "mesh",
    "moments",
    "neighbourhood",
    "zero_crossing",
    "zones",
)


def load_all() -> dict[str, CudaKernel]:
    """Import every kernel family and return the registry of their CUDA kernels."""
    for family in FAMILIES:
        importlib.import_module(f"{__name__}.{family}")
    return REGISTRY


__all__ = ["FAMILIES", "REGISTRY", "CudaKernel", "load_all"]
