"""Which device an array lives on, and the libraries for that device."""

from .chunks import label_chunks, map_stencil, separable_passes
from .counting import bincount_fixed
from .device import DEVICES, cuda_available, resolve_device
from .namespaces import (
    Namespace,
    is_cupy,
    is_dask,
    namespace,
    namespace_for,
    on_device,
    to_device,
    to_numpy,
)

__all__ = [
    "DEVICES",
    "Namespace",
    "bincount_fixed",
    "cuda_available",
    "is_cupy",
    "is_dask",
    "label_chunks",
    "map_stencil",
    "namespace",
    "namespace_for",
    "on_device",
    "resolve_device",
    "separable_passes",
    "to_device",
    "to_numpy",
]
