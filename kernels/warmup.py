"""Compile every kernel family once, for the dtypes users meet, into the on-disk cache.

``gpuimg warmup`` (or :func:`warmup`) runs each operation that has a kernel of its own on a small
volume of each common dtype, writable and read-only (as chunks of a Zarr store or a memory-mapped
file arrive), on the CPU once with the drivers' serial twins (small work, as on these volumes) and
once with the parallel drivers (large work: :func:`~gpuimg.kernels.registry.parallel_drivers`), so
that the exact specialisations the operations ask for are compiled and written to Numba's cache
(:mod:`gpuimg.kernels.cache`). Run it once in a container build or after installing: later
processes, Dask workers included, load the kernels instead of compiling them.
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import FAMILIES
from .registry import parallel_drivers

#: The dtypes users meet: 8-bit masks and images, CT (int16), MR and unsigned CT (uint16), floats.
DTYPES = ("uint8", "int16", "uint16", "float32", "float64")


def _any_dtype(dtype: np.dtype) -> str:
    """Why an operation refuses ``dtype``: it takes every real dtype."""
    return ""


def _integers_of_32_bits(dtype: np.dtype) -> str:
    """Why canny refuses ``dtype``: integers of 64 bits (:func:`gpuimg.edges.canny` raises for them)."""
    if dtype.kind in "iu" and dtype.itemsize > 4:
        return "canny takes integers of at most 32 bits (cast such an image to float64 or int32)"
    return ""


@dataclass(frozen=True)
class Task:
    """One operation that compiles the kernels of ``families`` when run on a small volume;
    ``refuses`` says why the operation refuses a dtype ("" where it takes it)."""

    name: str
    families: tuple[str, ...]
    run: Callable[[object], object]
    refuses: Callable[[np.dtype], str] = _any_dtype


def _canny(image):
    import gpuimg

    gpuimg.edges.canny(image)
    gpuimg.edges.canny(image, 1.0, method="zero_crossing")


def _bilateral(image):
    import gpuimg

    gpuimg.preprocess.bilateral_filter(image, 1.0, 50.0)
    gpuimg.preprocess.bilateral_filter(image, 1.0, 50.0, range_samples=100)


def _diffusion(image):
    import gpuimg

    for method in ("gradient", "curvature"):
        gpuimg.preprocess.anisotropic_diffusion(image, iterations=1, method=method)


def _hough(image):
    import gpuimg

    edges = image[image.shape[0] // 2] > image.mean()
    gpuimg.contours.hough_line(edges)
    gpuimg.contours.hough_circle(edges, np.array([2, 3]))


def _integer_counts(image):
    """The integer count, for the integer dtypes it takes (a float image has nothing to warm)."""
    import gpuimg.preprocess.equalize

    if image.dtype.kind in "iu":
        gpuimg.preprocess.equalize.integer_counts(image)


def _label(image):
    import gpuimg

    gpuimg.morphology.label(image > image.mean())


def _texture(image):
    import gpuimg

    mask = gpuimg.backend.namespace(image).xp.zeros(image.shape, dtype=bool)
    mask[1:-1, 1:-1, 1:-1] = True
    gpuimg.features.extract(image, mask, spacing=(1.0, 1.0, 1.0))


def _resample_onto_grid(image):
    """resample(reference=) onto a turned, shifted grid (partly past the image), orders 0 and 1."""
    import gpuimg

    volume = gpuimg.Volume(image, spacing=1.0)
    turn = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])
    grid = gpuimg.Volume(
        np.zeros(image.shape, np.float32), spacing=1.0, origin=(0.5, 1.5, -1.0), direction=turn
    )
    for order in (0, 1):
        gpuimg.preprocess.resample(volume, order=order, reference=grid)


def _operation(path: str, *args, **kwargs) -> Callable[[object], object]:
    """A task that calls ``gpuimg.<path>(image, *args, **kwargs)``."""

    def run(image):
        import gpuimg

        function = gpuimg
        for part in path.split("."):
            function = getattr(function, part)
        return function(image, *args, **kwargs)

    return run


#: What warms each family; every family in :data:`gpuimg.kernels.FAMILIES` is covered (a test checks).
TASKS = (
    Task("bilateral_filter", ("bilateral",), _bilateral),
    Task("canny", ("canny", "zero_crossing"), _canny, refuses=_integers_of_32_bits),
    Task("clahe", ("clahe",), _operation("preprocess.clahe")),
    Task("curvature_flow", ("curvature",), _operation("preprocess.curvature_flow", iterations=1)),
    Task("anisotropic_diffusion", ("diffusion",), _diffusion),
    Task("gradient_magnitude", ("gradient",), _operation("edges.gradient_magnitude")),
    Task("equalize_hist", ("histogram",), _operation("preprocess.equalize_hist")),
    Task("hough", ("hough",), _hough),
    Task("integer_counts", ("histogram",), _integer_counts),
    Task("label", ("labels",), _label),
    Task("median_filter", ("median",), _operation("preprocess.median_filter", 3)),
    Task("resample(reference=)", ("affine",), _resample_onto_grid),
    Task(
        "features.extract",
        ("glcm", "glrlm", "zones", "neighbourhood", "mesh", "hull", "moments", "autocorrelation"),
        _texture,
    ),
)


def warmup(
    families: Iterable[str] | None = None,
    dtypes: Sequence[str] = DTYPES,
    *,
    devices: Sequence[str] = ("cpu",),
    progress: bool = True,
) -> list[tuple[str, str, str, float]]:
    """Compile the kernels of ``families`` for ``dtypes`` on ``devices`` (or load them from the cache).

    Parameters
    ----------
    families : iterable of str, optional
        Kernel families (:data:`gpuimg.kernels.FAMILIES`); all by default.
    dtypes : sequence of str
        Input dtypes to compile for; default :data:`DTYPES`.
    devices : sequence of {"cpu", "cuda"}
        The kernel targets; "cuda" needs a GPU.
    progress : bool
        Show a progress bar (tqdm, on stderr).

    Returns
    -------
    list of (task, dtype, device, seconds)
        The time of each step: the compile time on a cold cache, the load time on a warm one.

    Raises
    ------
    ParameterError
        For a family that is not in :data:`gpuimg.kernels.FAMILIES`, or a name that is not a real
        dtype (see :func:`check_dtypes`).

    Notes
    -----
    An operation is not run for a dtype it refuses (canny for 64-bit integers): :func:`skipped`
    lists those, and ``gpuimg warmup`` prints them.

    Examples
    --------
    >>> steps = warmup(["labels"], ["uint8"], progress=False)
    >>> [(task, dtype, device) for task, dtype, device, _ in steps]
    [('label', 'uint8', 'cpu')]
    """
    from tqdm import tqdm

    import gpuimg

    tasks, dtypes = _tasks(families), check_dtypes(dtypes)
    steps = [
        (task, dtype, device)
        for device in devices
        for task in tasks
        for dtype in dtypes
        if not task.refuses(dtype)
    ]
    rng = np.random.default_rng(0)
    done = []
    with tqdm(steps, desc="gpuimg warmup", unit="kernel", disable=not progress) as bar:
        for task, dtype, device in bar:
            bar.set_postfix_str(f"{task.name} {dtype} {device}")
            image = _volume(rng, dtype)
            start = time.perf_counter()
            task.run(gpuimg.to_device(image, device))
            if device == "cpu":
                # A read-only array (Zarr, memory-mapped files) is a type of its own to Numba; and the
                # CPU drivers have a serial twin for small work, which these small volumes compile,
                # and the parallel driver for large work.
                with parallel_drivers():
                    task.run(image)
                image.setflags(write=False)
                task.run(image)
                with parallel_drivers():
                    task.run(image)
            done.append((task.name, dtype.name, device, time.perf_counter() - start))
    return done


def check_dtypes(dtypes: Sequence[str], name: str = "dtypes") -> list[np.dtype]:
    """The NumPy dtypes of ``dtypes``, refusing a name that is not a dtype or a dtype no operation
    takes (complex, text, dates, objects): the kernels take bool, integers and floats.

    Raises
    ------
    ParameterError
        Naming ``name`` (``--dtypes`` for the command), the dtype and the accepted ones.
    """
    from gpuimg.errors import ParameterError

    checked = []
    for dtype in dtypes:
        try:
            checked.append(np.dtype(dtype))
        except TypeError as error:
            raise ParameterError(
                f"{name} {dtype!r}: {error}; use NumPy names of real dtypes such as {' '.join(DTYPES)}."
            ) from None
        if checked[-1].kind not in "biuf":
            raise ParameterError(
                f"{name} {dtype!r}: the operations take real images (bool, integers, floats), not "
                f"{checked[-1]}; use NumPy names of real dtypes such as {' '.join(DTYPES)}."
            )
    return checked


def skipped(
    families: Iterable[str] | None = None, dtypes: Sequence[str] = DTYPES
) -> list[tuple[str, str, str]]:
    """The (task, dtype, why) that :func:`warmup` leaves out: an operation refuses the dtype.

    Examples
    --------
    >>> skipped(["canny", "labels"], ["int64", "uint8"])
    [('canny', 'int64', 'canny takes integers of at most 32 bits (cast such an image to float64 or int32)')]
    """
    return [
        (task.name, dtype.name, task.refuses(dtype))
        for task in _tasks(families)
        for dtype in check_dtypes(dtypes)
        if task.refuses(dtype)
    ]


def _tasks(families: Iterable[str] | None) -> list[Task]:
    """The tasks that warm ``families`` (all by default); an unknown family is refused."""
    from gpuimg.errors import ParameterError

    wanted = set(FAMILIES if families is None else families)
    unknown = wanted - set(FAMILIES)
    if unknown:
        raise ParameterError(f"unknown kernel families {sorted(unknown)}; choose from {list(FAMILIES)}.")
    return [task for task in TASKS if wanted & set(task.families)]


def _volume(rng: np.random.Generator, dtype: np.dtype) -> np.ndarray:
    """A small volume of ``dtype`` with values spread over a CT-like range (or [0, 255] for uint8)."""
    high = 255 if dtype == np.uint8 else 1000
    return rng.uniform(0, high, (6, 7, 8)).astype(dtype)
