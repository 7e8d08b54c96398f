"""The errors gpuimg raises.

Every error is a :class:`GpuimgError`, so ``except gpuimg.GpuimgError`` catches all of them, and also
the built-in exception it resembles (a bad parameter is a ``ValueError``, a missing GPU a
``RuntimeError``), so code written for SciPy or scikit-image keeps working. Each message says what was
wrong, with the offending value, and what to do about it.
"""

import functools


class GpuimgError(Exception):
    """Base class of every error raised by gpuimg.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> try:
    ...     gpuimg.preprocess.gaussian_filter(np.zeros((4, 4, 4)), sigma=-1.0)
    ... except gpuimg.GpuimgError as error:  # any of gpuimg's errors
    ...     print(type(error).__name__, isinstance(error, ValueError))
    ParameterError True
    """


class ParameterError(GpuimgError, ValueError):
    """A function argument has an invalid value (a mode, a size, a spacing, an axis).

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> gpuimg.preprocess.gaussian_filter(np.zeros((4, 4, 4)), sigma=-1.0)
    Traceback (most recent call last):
    ...
    gpuimg.errors.ParameterError: sigma=-1.0 must be positive and finite, one number or one per axis (3).
    """


class VolumeUsageError(GpuimgError, TypeError, AttributeError):
    """A :class:`~gpuimg.Volume` was used as an array (``volume > 0``, ``volume[0]``, ``volume.max()``).

    A ``TypeError`` for an operator or an index and an ``AttributeError`` for an array's attribute, as
    Python raises for them, so ``hasattr`` stays False; the message points to ``volume.data``.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> ct = gpuimg.Volume(np.zeros((2, 3, 4)), spacing=1.0)
    >>> ct.max()
    Traceback (most recent call last):
    ...
    gpuimg.errors.VolumeUsageError: a Volume has no .max: ... volume.data.max().
    >>> hasattr(ct, "max"), float(ct.data.max())
    (False, 0.0)
    """


class DeviceError(GpuimgError, RuntimeError):
    """The requested device or array library is not available (no GPU, CuPy or cuCIM missing).

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> gpuimg.to_device(np.zeros(3), "tpu")
    Traceback (most recent call last):
    ...
    gpuimg.errors.DeviceError: device='tpu' is not a device; use 'auto', 'cpu' or 'cuda'.
    """


class GeometryError(GpuimgError, ValueError):
    """Volume geometry is inconsistent: spacing, origin, direction, slice positions or shapes.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> gpuimg.Volume(np.zeros((2, 3, 4)), spacing=(1.0, 0.0, 1.0))
    Traceback (most recent call last):
    ...
    gpuimg.errors.GeometryError: Volume spacing must be positive in mm; got (1.0, 0.0, 1.0).
    """


class DicomError(GpuimgError, ValueError):
    """A DICOM file or series cannot be read as asked: unreadable, incomplete or ambiguous.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import gpuimg
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.txt").write_text("not an image")
    >>> gpuimg.read_dicom(folder, device="cpu")
    Traceback (most recent call last):
    ...
    gpuimg.errors.DicomError: No DICOM images among 1 file (...notes.txt): it is not DICOM, ...
    """


class FeatureError(GpuimgError, ValueError):
    """A radiomics feature cannot be computed for this image, mask or settings.

    Examples
    --------
    >>> import numpy as np
    >>> import gpuimg
    >>> image = np.zeros((4, 4, 4))
    >>> gpuimg.features.extract(image, np.zeros(image.shape, bool), spacing=1.0)
    Traceback (most recent call last):
    ...
    gpuimg.errors.FeatureError: the mask is empty: no voxel of the ROI is set; ...
    """


class ConfigError(GpuimgError, ValueError):
    """A settings file or environment variable holds an invalid value.

    Examples
    --------
    >>> import gpuimg
    >>> gpuimg.features.Settings(bin_width=-1)
    Traceback (most recent call last):
    ...
    gpuimg.errors.ConfigError: bin_width=-1 must be a positive width in image units.
    """


class MemoryBudgetError(GpuimgError, MemoryError):
    """An input (a header's claim, a size parameter) would need more memory than the budget allows.

    The budget is ``GPUIMG_MAX_BYTES`` or half the available memory (see :mod:`gpuimg._memory`); the
    check runs before anything is allocated.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuimg.ml import voxel_features
    >>> image = np.zeros((20, 40, 40))
    >>> voxel_features(image, sigmas=(1.0,)).nbytes  # 32 000 voxels x 7 float32 features
    896000
    >>> import os
    >>> os.environ["GPUIMG_MAX_BYTES"] = "100K"
    >>> voxel_features(image, sigmas=(1.0,))
    Traceback (most recent call last):
    ...
    gpuimg.errors.MemoryBudgetError: voxel_features of ... more than the memory budget of 100.0 KiB. ...
    >>> del os.environ["GPUIMG_MAX_BYTES"]
    """


class ImageFileError(GpuimgError, ValueError):
    """A NIfTI or NRRD file cannot be read: missing, truncated, corrupted or with an invalid header.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import gpuimg
    >>> path = Path(tempfile.mkdtemp()) / "ct.nii"
    >>> _ = path.write_bytes(b"not a NIfTI file")
    >>> gpuimg.read_image(path, device="cpu")
    Traceback (most recent call last):
    ...
    gpuimg.errors.ImageFileError: ...ct.nii: cannot be read as NIFTI (...). The file is truncated, ...
    """


class WriteError(GpuimgError, OSError):
    """An output cannot be written: the folder is not writable, the file exists, or the data don't fit.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import numpy as np
    >>> import gpuimg
    >>> taken = Path(tempfile.mkdtemp()) / "ct.nrrd"
    >>> taken.mkdir()  # a folder of that name
    >>> try:
    ...     gpuimg.write_image(np.zeros((2, 3, 4)), taken, spacing=1.0)
    ... except OSError as error:  # a WriteError is an OSError
    ...     print(type(error).__name__, str(error).endswith("is a folder; pass the path of a file to write."))
    WriteError True
    """


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

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn.exceptions import NotFittedError
        >>> from gpuimg.ml import SOM
        >>> try:
        ...     SOM().predict(np.zeros((2, 2)))
        ... except NotFittedError as error:  # scikit-learn's, caught as for its own estimators
        ...     print(type(error).__module__, type(error).__name__)
        gpuimg.errors NotFittedError
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

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> import gpuimg
    >>> image = np.zeros((2, 2, 2))  # mean 0: no coefficient of variation
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     features = gpuimg.features.extract(image, image == 0, spacing=1.0, families=["statistics"])
    >>> caught[0].category.__name__, caught[0].message.undefined
    ('FeatureWarning', {'stat_cov': 'the mean is 0', 'stat_qcod': 'P75 + P25 is 0'})
    >>> features["stat_cov"]
    nan
    """

    def __init__(self, message: str, undefined: dict | None = None):
        super().__init__(message)
        self.undefined = {} if undefined is None else undefined
