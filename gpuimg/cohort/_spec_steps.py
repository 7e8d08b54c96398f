"""The checks of a pipeline spec's image tables: the ``[[preprocess]]`` steps (:data:`STEPS`; each
step's parameters bound to its gpuimg.preprocess function and tried on a small image) and the
``[features]`` table (the families, the image measured, :class:`gpuimg.features.Settings`)."""

import inspect
import warnings

import numpy as np

from gpuimg import preprocess
from gpuimg.errors import ConfigError, GpuimgError
from gpuimg.features import FAMILIES, Settings
from gpuimg.volume import Volume

from ._spec_values import _choice

#: Preprocessing steps a spec may name: the gpuimg.preprocess functions of one image.
STEPS = (
    "anisotropic_diffusion",
    "bilateral_filter",
    "clahe",
    "curvature_flow",
    "equalize_hist",
    "gaussian_filter",
    "laplacian_sharpen",
    "mean_filter",
    "median_filter",
    "rescale_intensity",
    "unsharp_mask",
    "window",
    "zscore",
)


def _step(index: int, table: dict) -> tuple[str, dict]:
    where = f"preprocess[{index}]"
    if not isinstance(table, dict) or "step" not in table:
        raise ConfigError(f"{where} needs step = one of {list(STEPS)}.")
    name = _choice(f"{where}.step", table["step"], STEPS)
    params = {k: v for k, v in table.items() if k != "step"}
    if "spacing" in params:
        # Each study's image brings its own spacing, and a step refuses any other: spacing = [1, 1, 1]
        # passed the check on the 1 mm probe, then every study of another spacing failed.
        raise ConfigError(
            f"{where} ({name}): spacing = {params['spacing']!r} is each study's own, read from its image; "
            "remove the key (a parameter ending in _mm is in mm of that spacing)."
        )
    try:
        inspect.signature(getattr(preprocess, name)).bind(None, **params)
    except TypeError as exc:
        raise ConfigError(
            f"{where} ({name}): {exc}; its parameters are those of gpuimg.preprocess.{name} after the image."
        ) from exc
    _try_step(where, name, params)
    return name, params


#: The image a step's parameters are tried on when the spec is read: noise of CT's spread [HU], 1 mm voxels.
_PROBE_SHAPE, _PROBE_SPREAD = (8, 8, 8), 100.0


def _try_step(where: str, name: str, params: dict) -> None:
    """Run the step on a small image of noise, so that a value it refuses (a negative sigma, a window of
    no width, an unknown preset) is one ConfigError when the spec is read, not an error row for every study.

    The values that depend on the image alone (a kernel too large for its memory, an empty mask) are
    still checked on each study.
    """
    probe = np.random.default_rng(0).normal(0.0, _PROBE_SPREAD, _PROBE_SHAPE).astype(np.float32)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            getattr(preprocess, name)(Volume(probe, (1.0, 1.0, 1.0)), **params)
    except (GpuimgError, TypeError, ValueError) as exc:
        # TypeError, ValueError: a value of a type no check expects (truncate = "4"), refused by a library.
        reason = str(exc) if isinstance(exc, GpuimgError) else f"{type(exc).__name__}: {exc}"
        raise ConfigError(
            f"{where} ({name}): {reason.rstrip('.')}; see gpuimg.preprocess.{name} for its parameters."
        ) from exc


def _features(table: dict) -> tuple[tuple[str, ...], Settings, str]:
    table = dict(table)
    image = _choice("features.image", table.pop("image", "preprocessed"), ("preprocessed", "original"))
    families = table.pop("families", list(FAMILIES))
    if not isinstance(families, list) or not families:
        raise ConfigError(f"features.families must be a non-empty list of names from {list(FAMILIES)}.")
    for name in families:
        # A list or table in the list is unhashable: the dict's lookup would raise a TypeError.
        if not isinstance(name, str) or name not in FAMILIES:
            raise ConfigError(
                f"features.families: {name!r} is not a feature family of this gpuimg; use some of "
                f"{list(FAMILIES)}."
            )
    try:
        settings = Settings.from_dict(table)
    except ConfigError as exc:
        raise ConfigError(f"features: {exc}") from exc
    return tuple(families), settings, image
