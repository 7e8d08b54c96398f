"""Which device gpuimg computes on: ``"cpu"`` (NumPy) or ``"cuda"`` (CuPy on an NVIDIA GPU).

The caller picks the device once, when loading data, with ``device="auto" | "cpu" | "cuda"`` (in any
case); ``"auto"`` defers to the environment variable ``GPUIMG_DEVICE`` (same three values) and, where
that is unset or ``auto``, means CUDA when CuPy sees a GPU and the CPU otherwise.
"""

import functools
import os
import re

from gpuimg.errors import DeviceError

DEVICES = ("auto", "cpu", "cuda")

_INSTALL_HINT = (
    "Install gpuimg with the CUDA extra that matches your driver (`nvidia-smi` shows its CUDA "
    "version): in the gpuimg checkout, pip install -e '.[cuda13]' for CUDA 13 or -e '.[cuda12]' "
    "for CUDA 12 (gpuimg is not on the package index yet). "
    "Or compute on the CPU with device='cpu' (GPUIMG_DEVICE=cpu)."
)


@functools.cache
def _probe_cuda() -> str | None:
    """None when CuPy can allocate on a GPU, else the reason it cannot (probed once per process)."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is not installed ({exc})"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return "CuPy is installed but sees no GPU"
        # A missing or too old driver often shows only at the first allocation.
        cupy.zeros(1)
    except Exception as exc:  # CuPy raises CUDARuntimeError, CUDADriverError or an ImportError of libcudart.
        return f"CuPy is installed but cannot use a GPU ({type(exc).__name__}: {exc})"
    return None


def cuda_available() -> bool:
    """Whether CuPy is installed and can allocate memory on a GPU.

    Examples
    --------
    >>> from gpuimg.backend import cuda_available, resolve_device
    >>> device = "cuda" if cuda_available() else "cpu"  # the GPU where there is one
    >>> resolve_device(device) == device
    True
    """
    return _probe_cuda() is None


def normalised_name(name: str) -> str:
    """A device name as compared with :data:`DEVICES`: in any case, spaces around it ignored, as the
    keyword, ``GPUIMG_DEVICE`` and ``gpuimg --device`` all take it."""
    return name.strip().lower()


def resolve_device(device: str | None = "auto") -> str:
    """The device to compute on, ``"cpu"`` or ``"cuda"``, for a requested ``device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"} or None
        In any case (``"CUDA"``, ``"Cpu"``), as ``GPUIMG_DEVICE``. ``"auto"`` (or None) reads
        ``GPUIMG_DEVICE``, then picks CUDA if a GPU is usable.

    Raises
    ------
    DeviceError
        If the device name is unknown, or CUDA is asked for and no usable GPU is found; the message
        says why and what to install.

    Examples
    --------
    >>> from gpuimg.backend import resolve_device
    >>> resolve_device("cpu")
    'cpu'
    >>> resolve_device("CPU")  # in any case, as GPUIMG_DEVICE
    'cpu'
    >>> resolve_device("auto") in ("cpu", "cuda")  # GPUIMG_DEVICE, else CUDA where a GPU is usable
    True
    >>> resolve_device("gpu")
    Traceback (most recent call last):
    ...
    gpuimg.errors.DeviceError: device='gpu' is not a device; use 'auto', 'cpu' or 'cuda'.
    """
    source, given = "device", "auto" if device is None else device
    if not isinstance(given, str):
        raise DeviceError(f"device={given!r} is not a device; use 'auto', 'cpu' or 'cuda'.")
    requested = normalised_name(given)
    if requested == "auto":
        source, given = "GPUIMG_DEVICE", os.environ.get("GPUIMG_DEVICE", "")
        requested = normalised_name(given) or "auto"
    if requested not in DEVICES:
        index = re.fullmatch(r"\s*cuda\s*:\s*(\d+)\s*", requested, flags=re.IGNORECASE)
        which = (
            f" To compute on GPU {index[1]}, pass 'cuda' and start Python with "
            f"CUDA_VISIBLE_DEVICES={index[1]} (CuPy's device 0 is then that GPU)."
            if index
            else ""
        )
        raise DeviceError(f"{source}={given!r} is not a device; use 'auto', 'cpu' or 'cuda'.{which}")
    if requested == "cpu":
        return "cpu"
    why = _probe_cuda()
    if requested == "auto":
        return "cpu" if why else "cuda"
    if why:
        raise DeviceError(f"{source}='cuda' asks for a GPU, but {why}. {_INSTALL_HINT}")
    return "cuda"
