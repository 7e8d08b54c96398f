"""Failing and bad writes (issue 14): a GpuimgError naming the path or parameter, and never half a
series, a garbage volume or a temporary file left behind."""

import errno
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pydicom
import pytest
from as_user import user_prefix

from gpuimg import ParameterError, Volume, WriteError
from gpuimg.io import read_dicom, read_image, write_chunked, write_dicom, write_image


def dead_pid() -> int:
    """The id of a process that has exited (its temporaries are stale)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_write_image_into_a_folder_or_below_a_file(tmp_path, make_volume, suffix):
    volume = make_volume(shape=(3, 4, 5))
    (tmp_path / f"folder{suffix}").mkdir()
    with pytest.raises(WriteError, match="is a folder"):
        write_image(volume, tmp_path / f"folder{suffix}")
    (tmp_path / "file").write_text("")
    with pytest.raises(WriteError, match="file"):
        write_image(volume, tmp_path / "file" / f"image{suffix}")


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_write_image_of_a_dtype_the_format_lacks(tmp_path, suffix):
    volume = Volume(np.zeros((2, 3, 4), np.complex128 if suffix == ".nrrd" else np.float128))
    with pytest.raises(WriteError, match="image"):
        write_image(volume, tmp_path / f"image{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd"])
@pytest.mark.parametrize("shape", [(0, 4, 5), (3, 0, 5)])
def test_write_image_of_a_volume_without_voxels(tmp_path, suffix, shape):
    # The file was written with an axis of length 0: read_image refused it as damaged, SimpleITK read
    # the NIfTI as 3 x 3 x 1. write_dicom refuses such a volume too.
    with pytest.raises(ParameterError, match=r"write_image: a volume of shape .* has no voxel"):
        write_image(Volume(np.zeros(shape, np.int16)), tmp_path / f"image{suffix}")
    if suffix != ".nrrd":
        with pytest.raises(ParameterError, match=r"write_chunked: a volume of shape .* has no voxel"):
            write_chunked(Volume(np.zeros(shape, np.int16)), tmp_path / f"image{suffix}")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd"])
def test_write_image_float16_round_trips(tmp_path, rng, suffix):
    data = rng.normal(0, 100, (3, 4, 5)).astype(np.float16)
    read = read_image(write_image(Volume(data), tmp_path / f"image{suffix}"), device="cpu")
    np.testing.assert_array_equal(read.data, data.astype(np.float32))


def test_write_image_removes_a_killed_writes_temporary(tmp_path, make_volume):
    stale = tmp_path / f".image.nii.gz.gpuimg-{dead_pid()}-0badc0de.tmp.nii.gz"
    stale.write_bytes(b"half a file")
    live = tmp_path / f".image.nii.gz.gpuimg-{os.getpid()}-0badc0de.tmp.nii.gz"
    live.write_bytes(b"another write, still running")
    write_image(make_volume(shape=(3, 4, 5)), tmp_path / "image.nii.gz")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["image.nii.gz", live.name])


#: File names that fit the 255 bytes of a name but whose temporary, named after them, did not: a UID's
#: components (TCIA names files and folders so) made the temporary's suffix as long as the name itself.
LONG_NAMES = [
    ".".join(["1.3.6.1.4.1.14519.5.2.1.6279.6001"] * 3) + ".105756658031515062000744821260",
    "x" * 230,
]


@pytest.mark.parametrize("name", LONG_NAMES, ids=["dotted", "plain"])
@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".nhdr"])
def test_write_image_to_a_long_name(tmp_path, rng, name, suffix):
    # 'File name too long' (WriteError) for the temporary, though the name itself is a valid one.
    import nibabel as nib
    import nrrd

    data = rng.integers(-1000, 1000, (3, 4, 5)).astype(np.int16)
    path = tmp_path / f"{name[: 250 - len(suffix) - (len('.raw.gz') if suffix == '.nhdr' else 0)]}{suffix}"
    write_image(Volume(data), path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    # The reference readers: nibabel's array is (x, y, z), pynrrd's too (its default index order).
    stored = nib.load(path).get_fdata() if suffix == ".nii.gz" else nrrd.read(str(path))[0]
    np.testing.assert_array_equal(np.transpose(stored, (2, 1, 0)), data)


def test_write_dicom_to_a_folder_of_a_long_name(tmp_path, rng):
    data = rng.integers(-1000, 1000, (3, 4, 5)).astype(np.int16)
    folder = tmp_path / LONG_NAMES[1][:250]
    write_dicom(Volume(data), folder)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    files = sorted(folder.iterdir(), key=lambda p: pydicom.dcmread(p).ImagePositionPatient[2])
    np.testing.assert_array_equal([pydicom.dcmread(p).pixel_array for p in files], data)


def test_write_image_killed_leaves_only_a_temporary_the_next_write_removes(tmp_path):
    """SIGKILL while NIfTI is being written: no file at the target, and the next write cleans up."""
    script = textwrap.dedent(
        f"""
        import time, numpy as np, nibabel as nib
        from gpuimg import Volume
        from gpuimg.io import write_image
        def slow_save(image, path):
            open(path, "wb").write(b"partial")
            print("writing", flush=True)
            time.sleep(60)
        nib.save = slow_save
        write_image(Volume(np.zeros((2, 3, 4), np.int16)), {str(tmp_path / "image.nii.gz")!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "writing"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not (tmp_path / "image.nii.gz").exists()
    assert len(list(tmp_path.iterdir())) == 1  # the killed write's temporary
    write_image(Volume(np.ones((2, 3, 4), np.int16)), tmp_path / "other.nii.gz")
    assert [p.name for p in tmp_path.iterdir()] == ["other.nii.gz"]


def test_write_dicom_killed_midway_leaves_no_half_series(tmp_path):
    """SIGKILL after 3 of 40 slices: the folder does not exist (no 3-slice series to read)."""
    folder = tmp_path / "series"
    script = textwrap.dedent(
        f"""
        import time, numpy as np, pydicom
        from gpuimg import Volume
        from gpuimg.io import write_dicom
        save, written = pydicom.dataset.FileDataset.save_as, []
        def slow_save(self, path, **kwargs):
            save(self, path, **kwargs)
            written.append(path)
            if len(written) == 3:
                print("written 3", flush=True)
                time.sleep(60)
        pydicom.dataset.FileDataset.save_as = slow_save
        write_dicom(Volume(np.zeros((40, 4, 5), np.int16)), {str(folder)!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written 3"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert not folder.exists()
    write_dicom(Volume(np.ones((2, 4, 5), np.int16)), folder)
    assert [p.name for p in tmp_path.iterdir()] == ["series"]  # the stale temporary folder is gone
    assert read_dicom(folder, device="cpu").shape == (2, 4, 5)


@pytest.mark.parametrize("overwrite", [False, True])
def test_write_dicom_failing_at_slice_1_keeps_the_earlier_series(
    tmp_path, make_volume, monkeypatch, overwrite
):
    folder = tmp_path / "series"
    old = make_volume(shape=(4, 5, 6))
    if overwrite:
        write_dicom(old, folder)
    save, calls = pydicom.dataset.FileDataset.save_as, []

    def fail_at_slice_1(self, path, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        save(self, path, **kwargs)

    monkeypatch.setattr(pydicom.dataset.FileDataset, "save_as", fail_at_slice_1)
    with pytest.raises(WriteError, match="No space left") as info:
        write_dicom(make_volume(shape=(6, 5, 6)), folder, overwrite=overwrite)
    assert "series" in str(info.value)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == (["series"] if overwrite else [])
    if overwrite:
        np.testing.assert_array_equal(read_dicom(folder, device="cpu").data, old.data)


def test_write_dicom_overwrite_replaces_the_whole_series(tmp_path, make_volume):
    write_dicom(make_volume(shape=(6, 4, 5)), tmp_path / "series")
    new = make_volume(shape=(3, 4, 5))
    write_dicom(new, tmp_path / "series", overwrite=True)
    assert len(list((tmp_path / "series").iterdir())) == 3
    np.testing.assert_array_equal(read_dicom(tmp_path / "series", device="cpu").data, new.data)


def test_write_dicom_into_a_folder_of_other_files(tmp_path, make_volume):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WriteError, match=r"notes\.txt"):
        write_dicom(make_volume(shape=(2, 3, 4)), tmp_path, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_write_dicom_float16(tmp_path, rng):
    """float16 voxels are rescaled in float64 arithmetic: back within half a RescaleSlope."""
    data = rng.uniform(-1000, 3000, (3, 4, 5)).astype(np.float16)
    write_dicom(Volume(data), tmp_path)
    slope = float(pydicom.dcmread(next(tmp_path.iterdir())).RescaleSlope)
    read = read_dicom(tmp_path, device="cpu")
    # half a slope from storing integers, plus read_dicom's float32 rescale (the slope, the
    # product and the sum each rounded to float32: a few units in the last place)
    atol = slope / 2 + 4 * float(np.spacing(np.float32(np.abs(data).max())))
    np.testing.assert_allclose(read.data, data.astype(np.float64), rtol=0, atol=atol)


@pytest.mark.parametrize("shape", [(0, 4, 5), (1, 1, 65536)])
def test_write_dicom_shape_a_series_cannot_have(tmp_path, shape):
    with pytest.raises(ParameterError, match="cannot be a DICOM series"):
        write_dicom(Volume(np.zeros(shape, np.int16)), tmp_path / "series")
    assert not (tmp_path / "series").exists()


def test_write_dicom_complex(tmp_path):
    with pytest.raises(ParameterError, match="real numbers"):
        write_dicom(Volume(np.zeros((2, 3, 4), np.complex64)), tmp_path / "series")


@pytest.mark.parametrize(
    ("argument", "value", "shown"),
    [
        ("patient_name", "Doe^John\\Smith", False),
        ("patient_name", "N" * 65, False),
        ("patient_id", "ID-" + "9" * 70, False),
        ("patient_id", "A\\B", False),
        ("study_uid", "1.2.abc", True),
        ("series_uid", "1.02.3", True),
        ("series_uid", "1." + "2" * 70, True),
        ("series_description", "D" * 70, True),
    ],
)
def test_write_dicom_invalid_identifiers(tmp_path, make_volume, argument, value, shown):
    with pytest.raises(ParameterError, match=argument) as info:
        write_dicom(make_volume(shape=(2, 3, 4)), tmp_path / "series", **{argument: value})
    assert (value in str(info.value)) == shown
    assert not (tmp_path / "series").exists()


def test_write_dicom_onto_a_file(tmp_path, make_volume):
    (tmp_path / "series").write_text("a file, not a folder")
    with pytest.raises(WriteError, match="is a file"):
        write_dicom(make_volume(shape=(2, 3, 4)), tmp_path / "series")
    assert (tmp_path / "series").read_text() == "a file, not a folder"


def test_write_dicom_where_a_folder_may_not_be_opened_is_a_write_error(tmp_path):
    # A folder that may not be listed, or one inside a folder that may not be opened: Path.exists and
    # iterdir raised their bare PermissionError, where a folder that may not be written to was already
    # the WriteError 'cannot write there'. Run where permissions apply (as root, without the
    # capabilities that pass them: setpriv), as a user meets them.
    prefix = user_prefix()
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    denied = os.strerror(errno.EACCES)
    try:
        for folder in (locked, locked / "series"):
            code = textwrap.dedent(f"""
                import numpy as np, gpuimg
                try:
                    volume = gpuimg.Volume(np.zeros((2, 3, 4), np.int16), spacing=1.0)
                    gpuimg.write_dicom(volume, {str(folder)!r})
                except gpuimg.WriteError as exc:
                    print(exc)
                """)
            done = subprocess.run(
                [*prefix, sys.executable, "-c", code], capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            assert done.stdout.startswith(f"{folder}: cannot be looked into ({denied});"), done.stdout
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


@pytest.mark.parametrize("axis", [0, 2])
@pytest.mark.parametrize("writer", ["write_image", "write_chunked"])
def test_a_volume_longer_than_nifti1_can_describe_is_refused_with_the_way_out(tmp_path, axis, writer):
    # NIfTI-1's dim fields are int16, so an axis of 32768 voxels (a long micro-CT or stitched scan)
    # cannot be described: the refusal was 'cannot be written (HeaderDataError: shape ... does not fit
    # in dim datatype). Check that the folder is writable and the dtype is one the format stores'.
    import dask.array as da
    import nibabel as nib

    sitk = pytest.importorskip("SimpleITK")
    shape = [2, 1, 3]
    shape[axis] = 2**15
    volume = Volume(np.zeros(shape, np.uint8), spacing=(0.05, 0.05, 0.05))
    with pytest.raises(nib.spatialimages.HeaderDataError):  # the format's limit, as nibabel has it
        nib.Nifti1Header().set_data_shape(shape[::-1])
    nib.Nifti1Header().set_data_shape([2**15 - 1, 1, 1])
    data = volume if writer == "write_image" else Volume(da.from_array(volume.data), volume.spacing)
    write = write_image if writer == "write_image" else write_chunked
    axis_name = "zyx"[axis]
    with pytest.raises(
        WriteError, match=rf"long\.nii\.gz: .*at most 32767 voxels.*along {axis_name} \(32768\)"
    ):
        write(data, tmp_path / "long.nii.gz")
    assert list(tmp_path.iterdir()) == []
    other = ".nrrd" if writer == "write_image" else ".zarr"
    # The way out the message names writes the volume whole (SimpleITK reads the NRRD).
    path = write(data, tmp_path / f"long{other}")
    if other == ".nrrd":
        assert sitk.GetArrayFromImage(sitk.ReadImage(str(path))).shape == tuple(shape)
    else:
        assert zarr_shape(path) == tuple(shape)


def zarr_shape(path):
    zarr = pytest.importorskip("zarr")
    return zarr.open_array(str(path), mode="r").shape


def test_a_write_on_another_machine_into_a_shared_folder_is_left_alone(tmp_path, make_volume, monkeypatch):
    # Jobs on several machines (a SLURM array on a cluster) writing into one shared folder (NFS): each
    # write removed the temporaries whose process id does not run *on its machine*, so it removed
    # another machine's write between its temporary being written and renamed into place, which then
    # failed ('cannot be written ... FileNotFoundError'). Here the first write is another machine's:
    # another host name and a process id that no process here has; this machine writes meanwhile.
    import socket

    import nibabel as nib

    volume = make_volume(shape=(3, 4, 5))
    here, pid, away = socket.gethostname(), os.getpid, dead_pid()
    save = nib.save

    def save_then_let_this_machine_write(image, path):
        save(image, path)  # the temporary is whole; os.replace comes next
        with monkeypatch.context() as local:
            local.setattr(socket, "gethostname", lambda: here)
            local.setattr(os, "getpid", pid)
            local.setattr(nib, "save", save)
            write_image(volume, tmp_path / "this-machine.nii.gz")

    monkeypatch.setattr(socket, "gethostname", lambda: f"not-{here}")
    monkeypatch.setattr(os, "getpid", lambda: away)
    monkeypatch.setattr(nib, "save", save_then_let_this_machine_write)
    write_image(volume, tmp_path / "other-machine.nii.gz")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-machine.nii.gz", "this-machine.nii.gz"]
    for name in ("other-machine.nii.gz", "this-machine.nii.gz"):  # nibabel's axes are (x, y, z)
        np.testing.assert_array_equal(nib.load(tmp_path / name).get_fdata().T, volume.data)
    # A killed write of this machine is still removed by the next write here.
    stale = tmp_path / f".a.nii.gz.gpuimg-{dead_pid()}-0badc0de.tmp.nii.gz"
    stale.write_bytes(b"half a file")
    write_image(volume, tmp_path / "again.nii.gz")
    assert not stale.exists()
