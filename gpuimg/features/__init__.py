"""IBSI radiomics features: the processing chain as settings, and the feature families.

``extract(image, mask, spacing=..., settings=...)`` gives one row of features keyed by the IBSI tags;
``extract_labels`` gives one row per ROI of a label image. The families (morphology, local
intensity, intensity statistics, intensity histogram, intensity-volume histogram, and the texture
families GLCM, GLRLM, GLSZM, GLDZM, NGTDM, NGLDM) are also plain functions of a prepared
:class:`Roi` (see :func:`prepare`); :func:`glcm_map` gives voxel-based GLCM feature maps.
"""

from ._discretisation import discretise
from .chain import Roi, prepare
from .extract import FAMILIES, extract, extract_labels
from .glcm import glcm
from .gldzm import gldzm
from .glrlm import glrlm
from .glszm import glszm
from .ibsi import ibsi_settings
from .intensity import intensity_histogram, intensity_statistics
from .ivh import intensity_volume_histogram
from .local_intensity import local_intensity
from .morphology import morphology
from .ngldm import ngldm
from .ngtdm import ngtdm
from .settings import Settings
from .texture_maps import glcm_map

__all__ = [
    "FAMILIES",
    "Roi",
    "Settings",
    "discretise",
    "extract",
    "extract_labels",
    "glcm",
    "glcm_map",
    "gldzm",
    "glrlm",
    "glszm",
    "ibsi_settings",
    "intensity_histogram",
    "intensity_statistics",
    "intensity_volume_histogram",
    "local_intensity",
    "morphology",
    "ngldm",
    "ngtdm",
    "prepare",
]
