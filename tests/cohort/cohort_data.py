"""A tiny cohort on disk for the pipeline tests: nodule CTs as DICOM, their true masks as NRRD, labels."""

import csv
import html.parser
from pathlib import Path

import numpy as np

import gpuimg
from gpuimg.datasets.demo import demo_nodule

SHAPE = (12, 24, 24)
SPEC = """
[input]
modality = "CT"
[mask]
source = "file"
pattern = "mask.nrrd"
[[preprocess]]
step = "gaussian_filter"
sigma = 0.5
[edges]
[features]
families = ["morphology", "statistics", "histogram"]
discretisation = "fbs"
bin_width = 25.0
[learning]
labels = "labels.csv"
folds = 2
[learning.classification]
target = "malignant"
params = { n_estimators = 10 }
[learning.regression]
target = "growth"
[learning.clustering]
params = { n_clusters = 2, n_init = 2 }
"""


def write_study(folder: Path, i: int, *, patient_id: str, patient_name: str = "ANONYMOUS") -> None:
    """Study ``i``: a nodule whose spiculation and texture grow with ``i``, as DICOM plus its mask."""
    ct, mask = demo_nodule(
        4.0 + (i % 3), 0.1 * (i % 4), 8.0 * i, shape=SHAPE, spacing=(2.0, 1.25, 1.25), seed=i
    )
    gpuimg.write_dicom(ct, folder / "ct", patient_id=patient_id, patient_name=patient_name)
    gpuimg.write_image(
        gpuimg.Volume(mask.astype(np.uint8), ct.spacing, ct.origin, ct.direction), folder / "mask.nrrd"
    )


def write_cohort(root: Path, n: int = 6, **identity) -> tuple[Path, Path]:
    """``n`` good studies under ``root/cohort``, the spec beside them; returns (spec, cohort)."""
    cohort = root / "cohort"
    with open(root / "labels.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["patient_id", "malignant", "growth"])
        for i in range(n):
            patient = identity.get("patient_ids", [f"PAT-{k:03d}" for k in range(n)])[i]
            write_study(
                cohort / f"study_{i:03d}",
                i,
                patient_id=patient,
                patient_name=identity.get("name", "ANONYMOUS"),
            )
            writer.writerow([patient, i % 2, 0.5 * i])
    (root / "pipeline.toml").write_text(SPEC)
    return root / "pipeline.toml", cohort


def process_batch_dying_on(tasks):
    """The Dask task of a run of studies (``gpuimg.cohort._dask._process_batch``), whose worker process
    dies (as out of memory, or in a library's crash) on a study whose folder is named ``poison``."""
    import os

    from gpuimg.cohort.study import process_study

    if any(task.name == "poison" for task in tasks):
        os._exit(1)
    return [process_study(task) for task in tasks]


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.text = []

    def handle_data(self, data):
        self.text.append(data)


def report_text(report: str) -> str:
    """The text of an HTML report as a reader sees it, without its tags (Python's own HTML parser)."""
    parser = _Text()
    parser.feed(report)
    return "".join(parser.text)
