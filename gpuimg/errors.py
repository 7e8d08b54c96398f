"""The errors gpuimg raises.

Every error is a :class:`GpuimgError`, so ``except gpuimg.GpuimgError`` catches all of them, and also
the built-in exception it resembles (a bad parameter is a ``ValueError``, a missing GPU a
``RuntimeError``), so code written for SciPy or scikit-image keeps working. Each message says what was
wrong, with the offending value, and what to do about it.
"""

import functools


class GpuimgError(Exception):
    """Base class of every error raised by gpuimg."""


class ParameterError(GpuimgError, ValueError):
    """A function argument has an invalid value (a mode, a size, a spacing, an axis)."""


class VolumeUsageError(GpuimgError, TypeError, AttributeError):
    """A :class:`~gpuimg.Volume` was used as an array (``volume > 0``, ``volume[0]``, ``volume.max()``).

    A ``TypeError`` for an operator or an index and an ``AttributeError`` for an array's attribute, as
    Python raises for them, so ``hasattr`` stays False; the message points to ``volume.data``.
    """


class DeviceError(GpuimgError, RuntimeError):
    """The requested device or array library is not available (no GPU, CuPy or cuCIM missing)."""


class GeometryError(GpuimgError, ValueError):
    """Volume geometry is inconsistent: spacing, origin, direction, slice positions or shapes."""


class DicomError(GpuimgError, ValueError):
    """A DICOM file or series cannot be read as asked: unreadable, incomplete or ambiguous."""


class FeatureError(GpuimgError, ValueError):
    """A radiomics feature cannot be computed for this image, mask or settings."""


class ConfigError(GpuimgError, ValueError):
    """A settings file or environment variable holds an invalid value."""


class MemoryBudgetError(GpuimgError, MemoryError):
    """An input (a header's claim, a size parameter) would need more memory than the budget allows.

    The budget is ``GPUIMG_MAX_BYTES`` or half the available memory (see :mod:`gpuimg._support`); the
    check runs before anything is allocated.
    """


class ImageFileError(GpuimgError, ValueError):
    """A NIfTI or NRRD file cannot be read: missing, truncated, corrupted or with an invalid header."""


class WriteError(GpuimgError, OSError):
    """An output cannot be written: the folder is not writable, the file exists, or the data don't fit."""


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, and importing scikit-learn takes most of a second: a
    # cost every process (each Dask worker) would pay on ``import gpuimg``. The class is made on first use.
    if name == "NotFittedError":
        return _not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    class NotFittedError(GpuimgError, SklearnNotFittedError):
        """An estimator's ``predict`` or ``transform`` was called before ``fit``.

        Also scikit-learn's ``NotFittedError`` (so a ``ValueError`` and an ``AttributeError``), as
        scikit-learn raises for its own estimators.
        """

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"  # as pickle finds it
    return NotFittedError


class FeatureWarning(UserWarning):
    """Radiomics features have no defined value for this ROI and are NaN (the message says why).

    Parameters
    ----------
    message : str
    undefined : dict, optional
        The features concerned and why: ``{name: why}``, or ``{label: {name: why}}`` for the ROIs
        of :func:`gpuimg.features.extract_labels`. The message shows only a few names per reason.
    """

    def __init__(self, message: str, undefined: dict | None = None):
        super().__init__(message)
        self.undefined = {} if undefined is None else undefined
