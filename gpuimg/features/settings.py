"""The IBSI image processing chain as settings: interpolation, re-segmentation and discretisation.

A :class:`Settings` says how an image and its mask are made ready before features are computed
(IBSI 1 reference manual, chapter 2: interpolation, re-segmentation, discretisation). It is a frozen
dataclass, checked when made, and loads from a TOML file or a dict with the same field names.
:func:`ibsi_settings` gives the settings of the IBSI benchmark cases: the digital phantom and the
CT phantom configurations A to E.
"""

import dataclasses
import difflib
import math
import numbers
import os
import tomllib
from dataclasses import dataclass

from gpuimg._support import check_flag
from gpuimg.errors import ConfigError, ParameterError

#: Interpolation orders of the image by name (IBSI: nearest neighbour, linear, cubic spline).
ORDERS = {"nearest": 0, "linear": 1, "cubic": 3}
#: Discretisation methods: fixed bin number, fixed bin size; "none" only for the IVH.
DISCRETISATIONS = ("fbn", "fbs")
IVH_DISCRETISATIONS = ("none", "fbn", "fbs")
#: Texture approaches: per slice (2D), per slice merged over the volume (2.5D), in 3D (IBSI 3.6).
APPROACHES = ("2d", "2.5d", "3d")
#: Texture aggregations: features averaged over directions (and slices), or from the merged matrix.
AGGREGATIONS = ("averaged", "merged")
#: Most grey levels of the texture discretisation: a GLCM of this many levels already holds 2**32 cells.
MAX_BINS = 2**16
#: Most levels of the intensity-volume histogram (IBSI recommends 1000).
MAX_IVH_BINS = 2**20
#: Largest texture distance [voxels] and NGLDM coarseness [grey levels]: past any image's side and
#: any difference of grey levels (so a larger one changes nothing), and within the kernels' int64
#: voxel arithmetic (a distance near 2**63 wrapped around in it).
MAX_TEXTURE_REACH = 2**31 - 1


def _hint(name, fields) -> str:
    """``; did you mean ...`` for an unknown setting ``name``: a field spelled alike (``binWidth``,
    ``bin_widht``), with the discretisation a bin parameter needs (new_spacing for an interpolation
    setting), or where ``families`` goes."""
    if name == "families":
        return "; families is extract's own argument: extract(image, mask, families=[...])"
    if not isinstance(name, str):
        return ""
    plain = {field.replace("_", "").lower(): field for field in fields}
    close = plain.get(name.replace("_", "").lower()) or next(
        iter(difflib.get_close_matches(name, sorted(fields), n=1, cutoff=0.8)), None
    )
    if not close:
        return ""
    method = next(
        (
            f" with {m}={k!r}"
            for m, uses in _METHODS.items()
            for k, (used, *_) in uses.items()
            if used == close
        ),
        " with new_spacing" if close in _INTERPOLATION_PARAMETERS else "",
    )
    return f"; for {name!r} use {close!r}{method}"


@dataclass(frozen=True)
class Settings:
    """How an image and its mask are processed before radiomics features are computed.

    Parameters
    ----------
    new_spacing : sequence of 3 (float or None) [mm], optional
        Interpolate to this spacing (z, y, x) on the IBSI grid (grid centres aligned). ``None`` for
        an axis keeps that axis as it is (IBSI "2D" interpolation in the axial plane is
        ``(None, 2.0, 2.0)``); ``None`` altogether means no interpolation.
    interpolation : {"nearest", "linear", "cubic"}, optional
        Image interpolator (IBSI: nearest neighbour, (tri)linear, (tri)cubic spline); "linear" when
        left out. Only with ``new_spacing``: given without it, it is refused (nothing is
        interpolated), and it stays None there.
    round_intensities : bool
        Round the intensities to the nearest integer (IBSI, for CT in HU), interpolated or not; a half
        to the even one (``numpy.rint``), an interpolated value within 1e-6 of a half being that half
        (a new voxel halfway between two old ones, whose exact mean of two integers the interpolation
        misses by a few ulps).
    partial_volume : float, optional
        Mask interpolation is linear; a new voxel is in the ROI when its interpolated fraction is at
        least this, in (0, 1]; 0.5 (IBSI) when left out. Only with ``new_spacing``, as
        ``interpolation``; None without it.
    reseg_range : (float, float), optional
        Keep only intensity-mask voxels with ``lower <= value <= upper`` [image units, e.g. HU];
        ``math.inf`` for an open upper end, ``-math.inf`` for an open lower end.
    outlier_sigma : float, optional
        Also drop intensity-mask voxels further than this many standard deviations from the ROI
        mean (IBSI: 3).
    discretisation : {"fbn", "fbs"}
        Fixed bin number (``n_bins`` equal bins between the ROI's minimum and maximum) or fixed bin
        size (bins of ``bin_width`` from the lower re-segmentation bound, or the ROI minimum where
        there is none), for the intensity histogram and the texture families.
    n_bins : int, optional
        Number of bins for "fbn", 1 to :data:`MAX_BINS`; 32 when left out. Only for "fbn": given
        with "fbs" it is refused (it would be unused), and it stays None there.
    bin_width : float [image units], optional
        Bin width for "fbs" (PyRadiomics' ``binWidth``); 25.0 when left out. Only for "fbs": given
        with "fbn" (the default discretisation) it is refused, and it stays None there.
    ivh_discretisation : {"none", "fbn", "fbs"}
        For the intensity-volume histogram: "none" uses the intensities themselves, one level per
        integer (CT in HU); "fbs" bins of ``ivh_bin_width`` converted back to their centres
        (calibrated continuous intensities, e.g. PET); "fbn" ``ivh_n_bins`` bins (arbitrary units,
        e.g. MR; IBSI recommends 1000).
    ivh_n_bins : int, optional
        1 to :data:`MAX_IVH_BINS`; 1000 when left out. Only for ``ivh_discretisation="fbn"`` (the
        default), as ``n_bins``; None otherwise.
    ivh_bin_width : float [image units], optional
        2.5 when left out. Only for ``ivh_discretisation="fbs"``, as ``bin_width``; None otherwise.
    texture_approaches : str or sequence of {"2d", "2.5d", "3d"}
        How texture matrices are computed, one or several: per slice ("2d", features averaged
        over slices), per slice and merged over the volume ("2.5d"), or in 3D. Each gives its own
        tags (``_2D``, ``_2_5D``, ``_3D``). Morphological, local intensity, statistical, histogram
        and IVH features are 3D by definition (IBSI) and do not depend on it.
    texture_aggregations : str or sequence of {"averaged", "merged"}
        For the directional families (GLCM, GLRLM), one or both: features averaged over the
        directions (tags ``_avg``) or computed from the matrix merged over them (``_comb``).
    texture_distance : int [voxels]
        Chebyshev distance of the neighbours in the GLCM, NGTDM and NGLDM (IBSI default 1), 1 to
        :data:`MAX_TEXTURE_REACH`.
    ngldm_coarseness : int [grey levels]
        The NGLDM's coarseness parameter alpha: a neighbour depends on its centre when their grey
        levels differ by at most this (IBSI default 0), 0 to :data:`MAX_TEXTURE_REACH`.

    Raises
    ------
    ConfigError
        For a value out of its range or an unknown name, saying which and what is allowed; for a bin
        parameter given that the chosen discretisation does not use (``bin_width`` without
        ``discretisation="fbs"``, ``n_bins`` with it, and so for the IVH's), naming both. To change
        the discretisation of settings with :func:`dataclasses.replace`, set the old one's bin
        parameter to None: ``replace(s, discretisation="fbn", bin_width=None)``. So for
        ``interpolation`` or ``partial_volume`` given without ``new_spacing``; to stop interpolating,
        ``replace(s, new_spacing=None, interpolation=None, partial_volume=None)``.

    Examples
    --------
    A CT chain as in IBSI's configuration C (:func:`ibsi_settings` gives the benchmark's exactly): 2 mm
    cubic voxels, HU rounded, -1000 to 400 HU kept, bins of 25 HU.

    >>> from gpuimg.features import Settings
    >>> ct = Settings(new_spacing=(2.0, 2.0, 2.0), round_intensities=True, reseg_range=(-1000, 400),
    ...               discretisation="fbs", bin_width=25)
    >>> ct.order, ct.reseg_range
    (1, (-1000.0, 400.0))

    A bin width without ``discretisation="fbs"`` would be unused (32 bins of the default "fbn"), so it
    is refused:

    >>> Settings(bin_width=25)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gpuimg.errors.ConfigError: bin_width=25 is used only with discretisation='fbs' (fixed bin size, ...

    From a dict, as a TOML file's ``[features]`` table gives it (``"keep"`` in TOML for None); an
    unknown name is refused with the nearest one:

    >>> Settings.from_dict({"new_spacing": [None, 1.0, 1.0], "n_bins": 16}).new_spacing
    (None, 1.0, 1.0)
    >>> Settings.from_dict({"n_bin": 16})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gpuimg.errors.ConfigError: unknown settings ['n_bin']; for 'n_bin' use 'n_bins' with discretisation=...
    """

    new_spacing: tuple[float | None, float | None, float | None] | None = None
    interpolation: str | None = None
    round_intensities: bool = False
    partial_volume: float | None = None
    reseg_range: tuple[float, float] | None = None
    outlier_sigma: float | None = None
    discretisation: str = "fbn"
    n_bins: int | None = None
    bin_width: float | None = None
    ivh_discretisation: str = "fbn"
    ivh_n_bins: int | None = None
    ivh_bin_width: float | None = None
    texture_approaches: tuple[str, ...] = ("3d",)
    texture_aggregations: tuple[str, ...] = ("averaged", "merged")
    texture_distance: int = 1
    ngldm_coarseness: int = 0

    def __post_init__(self):
        if self.new_spacing is not None:
            spacing = _items(self.new_spacing)
            if len(spacing) != 3 or not all(s is None or _positive(s) for s in spacing):
                raise ConfigError(
                    f"new_spacing={self.new_spacing!r} must be 3 values (z, y, x) in mm, each positive or "
                    "None (keep that axis)."
                )
            object.__setattr__(self, "new_spacing", tuple(None if s is None else float(s) for s in spacing))
        if self.interpolation is not None:
            _choice("interpolation", self.interpolation, tuple(ORDERS))
        try:  # "false" from a text config would round, by its truth value
            object.__setattr__(
                self, "round_intensities", check_flag(self.round_intensities, "round_intensities")
            )
        except ParameterError as exc:
            raise ConfigError(str(exc)) from None
        _choice("discretisation", self.discretisation, DISCRETISATIONS)
        _choice("ivh_discretisation", self.ivh_discretisation, IVH_DISCRETISATIONS)
        for name, allowed in (("texture_approaches", APPROACHES), ("texture_aggregations", AGGREGATIONS)):
            object.__setattr__(self, name, _choices(name, getattr(self, name), allowed))
        if self.partial_volume is not None and not (
            _positive(self.partial_volume) and self.partial_volume <= 1
        ):
            raise ConfigError(f"partial_volume={self.partial_volume!r} must be in (0, 1]; IBSI uses 0.5.")
        if self.reseg_range is not None:
            bounds = _items(self.reseg_range)
            if len(bounds) != 2 or not all(_real(b) for b in bounds):
                raise ConfigError(
                    f"reseg_range={self.reseg_range!r} must be two numbers (lower, upper) in image units; "
                    "for a range open at one end, give that end as math.inf or -math.inf (inf or -inf in "
                    "TOML): (0, math.inf) keeps 0 and above."
                )
            lower, upper = (float(b) for b in bounds)
            if math.isnan(lower) or math.isnan(upper) or lower > upper or math.inf in (lower, -upper):
                raise ConfigError(
                    f"reseg_range={self.reseg_range!r} must have lower <= upper, and an end that is "
                    "infinite open (-inf as lower, inf as upper): any other keeps no voxel."
                )
            object.__setattr__(self, "reseg_range", (lower, upper))
        if self.outlier_sigma is not None and not _positive(self.outlier_sigma):
            raise ConfigError(f"outlier_sigma={self.outlier_sigma!r} must be positive (IBSI: 3) or None.")
        for name, most in (("n_bins", MAX_BINS), ("ivh_n_bins", MAX_IVH_BINS)):
            value = getattr(self, name)
            if value is not None and (not _whole(value) or not 1 <= value <= most):
                raise ConfigError(f"{name}={value!r} must be a whole number of bins, from 1 to {most}.")
        for name, least in (("texture_distance", 1), ("ngldm_coarseness", 0)):
            value = getattr(self, name)
            if not _whole(value) or not least <= value <= MAX_TEXTURE_REACH:
                raise ConfigError(
                    f"{name}={value!r} must be a whole number, from {least} to {MAX_TEXTURE_REACH} (a "
                    "larger one reaches no further)."
                )
        for name in ("bin_width", "ivh_bin_width"):
            value = getattr(self, name)
            if value is not None and not _positive(value):
                raise ConfigError(f"{name}={value!r} must be a positive width in image units.")
        for method, uses in (
            ("discretisation", _BIN_PARAMETERS),
            ("ivh_discretisation", _IVH_BIN_PARAMETERS),
        ):
            _fill_bin_parameter(self, method, uses)
        _fill_interpolation(self)
        # NumPy's numbers (from an array, a parameter grid) are taken and kept as Python's.
        for name in ("n_bins", "ivh_n_bins", "texture_distance", "ngldm_coarseness"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("partial_volume", "outlier_sigma", "bin_width", "ivh_bin_width"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def order(self) -> int | None:
        """The image interpolation order as ``scipy.ndimage`` takes it (0, 1 or 3); None without
        ``new_spacing`` (no interpolation)."""
        return None if self.interpolation is None else ORDERS[self.interpolation]

    @classmethod
    def from_dict(cls, values: dict) -> "Settings":
        """Settings from a dict of field names (as in a TOML file); unknown names are an error."""
        if not isinstance(values, dict):
            raise ConfigError(
                f"settings must be a dict of their names and values; got {type(values).__name__} {values!r}."
            )
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            hints = "".join(_hint(name, fields) for name in unknown)
            raise ConfigError(f"unknown settings {unknown}{hints}; the settings are {sorted(fields)}.")
        values = dict(values)
        if isinstance(values.get("new_spacing"), list | tuple):
            # TOML has no null: "keep" stands for an axis kept as it is.
            values["new_spacing"] = tuple(None if v == "keep" else v for v in values["new_spacing"])
        for name in ("reseg_range", "texture_approaches", "texture_aggregations"):
            if isinstance(values.get(name), list):
                values[name] = tuple(values[name])
        return cls(**values)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "Settings":
        """Settings from a TOML file, either at its top level or in a ``[features]`` table.

        An axis of ``new_spacing`` kept as it is is written ``"keep"`` (TOML has no null), and an
        open upper re-segmentation bound ``inf``. A pipeline spec (``gpuimg run``'s TOML) gives its
        processing chain: the keys of its ``[features]`` table that are no settings, ``families``
        and ``image`` (see :mod:`gpuimg.cohort.spec`), are left out, and a spec without that table
        gives ``Settings()``, as its run does; pass ``families=`` to
        :func:`~gpuimg.features.extract` for its families.
        """
        try:
            with open(path, "rb") as file:
                document = tomllib.load(file)
        except OSError as exc:
            raise ConfigError(f"cannot read the settings file {path}: {exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the settings file {path} is not valid TOML: {exc}") from exc
        table = document.get("features", document)
        if "features" not in document and document and set(document) <= set(_SPEC_TABLES):
            table = {}  # a pipeline spec without a [features] table: the default chain, as load_spec's
        elif not isinstance(table, dict):
            raise ConfigError(
                f"{path}: features = {table!r} must be a table of settings, [features] (in a pipeline spec "
                "with its families = [...] there)."
            )
        elif "features" in document:
            table = {k: v for k, v in table.items() if k not in _SPEC_KEYS}
        try:
            return cls.from_dict(table)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from exc


#: The keys of a pipeline spec's ``[features]`` table that are not settings (gpuimg.cohort.spec).
_SPEC_KEYS = ("families", "image")
#: A pipeline spec's tables other than ``[features]`` (gpuimg.cohort.spec).
_SPEC_TABLES = ("input", "mask", "preprocess", "edges", "learning", "privacy")


def as_settings(settings: "Settings | dict | str | os.PathLike | None") -> Settings:
    """``settings`` as a :class:`Settings`: itself, ``Settings()`` for None, :meth:`Settings.from_dict`
    for a dict, :meth:`Settings.from_toml` for a path.

    Raises
    ------
    ConfigError
        For anything else, an unknown setting or an unreadable file.

    Examples
    --------
    >>> as_settings({"n_bins": 16}).n_bins
    16
    """
    if settings is None:
        return Settings()
    if isinstance(settings, Settings):
        return settings
    if isinstance(settings, dict):
        return Settings.from_dict(settings)
    if isinstance(settings, str | os.PathLike):
        return Settings.from_toml(settings)
    raise ConfigError(
        f"settings must be a Settings, a dict of its fields or the path of a TOML file; got "
        f"{type(settings).__name__}."
    )


#: Per discretisation: the bin parameter it uses (None: none), that parameter's default, and the
#: method and its bins in words, for the message refusing a parameter it does not use.
_BIN_PARAMETERS = {
    "fbn": ("n_bins", 32, "fixed bin number", "n_bins bins"),
    "fbs": ("bin_width", 25.0, "fixed bin size, PyRadiomics' binWidth", "bins of bin_width"),
}
_IVH_BIN_PARAMETERS = {
    "none": (None, None, "the intensities themselves", "one level per integer intensity"),
    "fbn": ("ivh_n_bins", 1000, "fixed bin number", "ivh_n_bins bins"),
    "fbs": ("ivh_bin_width", 2.5, "fixed bin size", "bins of ivh_bin_width"),
}


#: The bin parameters' tables by the setting that chooses the method.
_METHODS = {"discretisation": _BIN_PARAMETERS, "ivh_discretisation": _IVH_BIN_PARAMETERS}


def _fill_bin_parameter(settings: Settings, method: str, uses: dict) -> None:
    """Give the bin parameter that ``settings``' discretisation ``method`` uses its default where it
    was not given, and refuse one given that it does not use: ``Settings(bin_width=10)`` kept the
    default "fbn" with 32 bins without a word, where a PyRadiomics user meant bins of 10."""
    chosen = getattr(settings, method)
    used, default, _, bins = uses[chosen]
    for other, (name, _, words, _) in uses.items():
        if name is not None and name != used and getattr(settings, name) is not None:
            raise ConfigError(
                f"{name}={getattr(settings, name)!r} is used only with {method}={other!r} ({words}); "
                f"add {method}={other!r}, or leave {name} out (None) for {chosen!r} ({bins})."
            )
    if used is not None and getattr(settings, used) is None:
        object.__setattr__(settings, used, default)


#: The settings of interpolation and their defaults, used only with new_spacing.
_INTERPOLATION_PARAMETERS = {"interpolation": "linear", "partial_volume": 0.5}


def _fill_interpolation(settings: Settings) -> None:
    """Give the interpolation settings their defaults where ``new_spacing`` is given, and refuse one
    given without it: ``Settings(interpolation="cubic")`` interpolated nothing, without a word."""
    for name, default in _INTERPOLATION_PARAMETERS.items():
        value = getattr(settings, name)
        if settings.new_spacing is not None and value is None:
            object.__setattr__(settings, name, default)
        elif settings.new_spacing is None and value is not None:
            raise ConfigError(
                f"{name}={value!r} is used only with new_spacing (the spacing to interpolate to, z, y, x "
                f"in mm; None for an axis kept as it is); add new_spacing, or leave {name} out (None): "
                "without new_spacing nothing is interpolated."
            )


def _real(value) -> bool:
    """Whether ``value`` is one real number, Python's or NumPy's (``numpy.float32(2.5)``), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _whole(value) -> bool:
    """Whether ``value`` is one whole number, Python's or NumPy's (``numpy.int64(32)``), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _positive(value) -> bool:
    return _real(value) and math.isfinite(value) and value > 0


def _choice(name, value, allowed):
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is unknown; use one of {list(allowed)}.")


def _choices(name, value, allowed) -> tuple[str, ...]:
    """One allowed value or several, as a tuple without repeats in the order of ``allowed``."""
    values = (value,) if isinstance(value, str) else _items(value)
    if not values or any(not isinstance(v, str) or v not in allowed for v in values):
        raise ConfigError(f"{name}={value!r}: use one or several of {list(allowed)}.")
    return tuple(v for v in allowed if v in values)


def _items(value) -> tuple:
    """The items of a sequence; ``(value,)`` for one value that is not (2.0 for new_spacing), which the
    checks then refuse for its length, naming the setting."""
    try:
        return tuple(value)
    except TypeError:
        return (value,)
