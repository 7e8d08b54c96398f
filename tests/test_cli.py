"""The gpuimg command: demo, info, and errors a person can act on."""

import re
import shutil
import subprocess

import pytest

from gpuimg.cli import main


def test_demo_finds_the_lesion_boundary(capsys, monkeypatch):
    monkeypatch.setenv("GPUIMG_DEVICE", "cpu")
    assert main(["demo", "--shape", "40", "64", "64"]) == 0
    out = capsys.readouterr().out
    assert "demo on cpu" in out and "Sobel gradient magnitude" in out
    found = re.search(r"boundary found ([\d.]+) \+/- ([\d.]+) mm .*true radius 20.0 mm", out)
    # The edge of a 20 mm sphere on a 0.8-2 mm grid lies within one voxel of its true radius.
    assert found and abs(float(found[1]) - 20.0) < 1.0
    radiomics = re.search(r"lesion volume ([\d.]+) mL \(sphere ([\d.]+) mL\).*mean ([-\d.]+) HU", out)
    # The mesh of a voxelised 20 mm ball holds its volume within 3%; the mean of 60 HU with noise of
    # 10 HU over ~30,000 voxels is within 0.5 HU.
    assert radiomics and abs(float(radiomics[1]) / float(radiomics[2]) - 1) < 0.03
    assert abs(float(radiomics[3]) - 60.0) < 0.5


def test_demo_asking_for_cuda_without_a_gpu_explains(capsys):
    if __import__("gpuimg").backend.cuda_available():
        pytest.skip("a GPU is usable here")
    assert main(["demo", "--device", "cuda", "--shape", "8", "8", "8"]) == 1
    assert "DeviceError" in capsys.readouterr().err


def test_demo_rejects_empty_shapes(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--shape", "0", "8", "8"])
    assert "--shape needs positive sizes" in capsys.readouterr().err


def test_info_names_the_device(capsys):
    assert main(["info"]) == 0
    assert re.search(r"device \(auto\): (cpu|cuda)", capsys.readouterr().out)


def test_console_script_is_installed():
    command = shutil.which("gpuimg")
    assert command, "the gpuimg console script is not on PATH; install with pip install -e ."
    done = subprocess.run([command, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "demo" in done.stdout
