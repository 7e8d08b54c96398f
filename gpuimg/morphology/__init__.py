"""Morphology: erosion, dilation, opening, closing, labels, hole filling, Otsu, distance transform."""

from .binary import closing, dilate, erode, footprint, opening
from .distance import distance_transform
from .labels import Labels, fill_holes, label, remove_small_objects
from .threshold import multiotsu, otsu_threshold

__all__ = [
    "Labels",
    "closing",
    "dilate",
    "distance_transform",
    "erode",
    "fill_holes",
    "footprint",
    "label",
    "multiotsu",
    "opening",
    "otsu_threshold",
    "remove_small_objects",
]
