"""Test helpers: the emulated CUDA device (:mod:`gpuimg.testing.emulated_cuda`)."""

from .emulated_cuda import MEMORY, DeviceArray, Emulator, emulated_cuda

__all__ = ["MEMORY", "DeviceArray", "Emulator", "emulated_cuda"]
