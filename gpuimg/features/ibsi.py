"""The settings of the IBSI 1 benchmark cases: the digital phantom and the CT phantom's configurations
A to E (IBSI 1, table 5.1), against whose reference values the features are tested."""

from gpuimg._support import shown
from gpuimg.errors import ConfigError

from .settings import APPROACHES, Settings


def ibsi_settings(case: str) -> Settings:
    """The settings of an IBSI 1 benchmark case.

    Parameters
    ----------
    case : {"digital_phantom", "A", "B", "C", "D", "E"}
        The digital phantom (no interpolation, no re-segmentation, the phantom's integer levels
        used as they are), or a configuration of the CT phantom (IBSI 1, table 5.1).

    Returns
    -------
    Settings

    Raises
    ------
    ConfigError
        For a ``case`` that is none of those (the letters in either case, surrounding spaces ignored),
        or not a string (``ibsi_settings(3)``).

    Examples
    --------
    >>> from gpuimg.features import ibsi_settings
    >>> b = ibsi_settings("B")  # 2 mm in-plane, linear, rounded, -500 to 400 HU, 32 bins
    >>> b.new_spacing, b.interpolation, b.round_intensities, b.reseg_range, b.discretisation, b.n_bins
    ((None, 2.0, 2.0), 'linear', True, (-500.0, 400.0), 'fbn', 32)
    >>> ibsi_settings("digital_phantom").texture_approaches
    ('2d', '2.5d', '3d')
    """
    key = case.strip().upper() if isinstance(case, str) else None
    if key == "DIGITAL_PHANTOM":
        return Settings(
            discretisation="fbs", bin_width=1.0, ivh_discretisation="none", texture_approaches=APPROACHES
        )
    if key not in _CT_CONFIGS:
        raise ConfigError(
            f"unknown IBSI case {shown(case)}; use the string 'digital_phantom' or one of 'A', 'B', "
            "'C', 'D', 'E' (the CT phantom's configurations)."
        )
    return Settings(**_CT_CONFIGS[key])


# IBSI 1 CT phantom configurations: ibsi_1_ct_phantom_configurations.csv.
_CT_CONFIGS = {
    "A": dict(
        texture_approaches=("2d", "2.5d"),
        reseg_range=(-500.0, 400.0),
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="none",
    ),
    "B": dict(
        texture_approaches=("2d", "2.5d"),
        new_spacing=(None, 2.0, 2.0),
        interpolation="linear",
        round_intensities=True,
        reseg_range=(-500.0, 400.0),
        discretisation="fbn",
        n_bins=32,
        ivh_discretisation="none",
    ),
    "C": dict(
        new_spacing=(2.0, 2.0, 2.0),
        interpolation="linear",
        round_intensities=True,
        reseg_range=(-1000.0, 400.0),
        discretisation="fbs",
        bin_width=25.0,
        ivh_discretisation="fbs",
        ivh_bin_width=2.5,
    ),
    "D": dict(
        new_spacing=(2.0, 2.0, 2.0),
        interpolation="linear",
        round_intensities=True,
        outlier_sigma=3.0,
        discretisation="fbn",
        n_bins=32,
        ivh_discretisation="none",
    ),
    "E": dict(
        new_spacing=(2.0, 2.0, 2.0),
        interpolation="cubic",
        round_intensities=True,
        reseg_range=(-1000.0, 400.0),
        outlier_sigma=3.0,
        discretisation="fbn",
        n_bins=32,
        ivh_discretisation="fbn",
        ivh_n_bins=1000,
    ),
}
