"""Synthetic data for examples, tests and benchmarks: a chest CT phantom and a cohort of them."""

from .cohort import write_cohort
from .phantom import ct_phantom

__all__ = ["ct_phantom", "write_cohort"]
