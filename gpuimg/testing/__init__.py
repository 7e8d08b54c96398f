"""Test helpers: the emulated CUDA device (:mod:`gpuimg.testing.emulated_cuda`)."""

from .emulated_cuda import MEMORY, SYNCS, DeviceArray, Emulator, emulated_cuda

__all__ = ["MEMORY", "SYNCS", "DeviceArray", "Emulator", "emulated_cuda"]
