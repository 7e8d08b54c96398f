"""Fixtures of the cohort tests."""

import pytest
from cohort_data import write_cohort


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return write_cohort(tmp_path_factory.mktemp("cohort"))
