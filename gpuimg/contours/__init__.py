"""Geometry from images: iso-surfaces (marching cubes), iso-contours (marching squares), mesh
measures, and Hough transforms for lines and circles."""

from ._hough_circles import hough_circle, hough_circle_peaks, hough_circles
from .binary_mesh import binary_mesh_measures
from .hough import hough_line, hough_line_peaks, hough_lines
from .marching import find_contours, marching_cubes, mesh_surface_area, mesh_volume

__all__ = [
    "binary_mesh_measures",
    "find_contours",
    "hough_circle",
    "hough_circle_peaks",
    "hough_circles",
    "hough_line",
    "hough_line_peaks",
    "hough_lines",
    "marching_cubes",
    "mesh_surface_area",
    "mesh_volume",
]
