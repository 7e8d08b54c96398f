"""list_series against a per-file pydicom scan of the same folders."""

import contextlib
import errno
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pydicom
import pytest
from as_user import run_as_user

from gpuimg import DicomError
from gpuimg.io import _quick_reader, _scan, _tags, list_series, read_dicom, write_dicom


def test_dicomdirtests_one_record_per_series(testfile):
    root = testfile("dicomdirtests")
    expected = Counter()
    for path in root.rglob("*"):
        if path.is_file():
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except pydicom.errors.InvalidDicomError:
                continue
            if "Rows" in ds:
                expected[ds.SeriesInstanceUID] += int(ds.get("NumberOfFrames", 1))
    found = list_series(root)
    assert {s.series_uid: s.n_slices for s in found} == dict(expected)
    assert any(p.name == "README.txt" for p in found.skipped)  # not DICOM: skipped and counted
    ct5n = next(s for s in found if s.description.startswith("SmartScore"))
    assert ct5n.shape == (5, 16, 16) and ct5n.problem is None
    np.testing.assert_allclose(ct5n.spacing, (2.5, 0.488281, 0.488281))
    assert ct5n.orientation == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    scout = next(s for s in found if s.description == "Scout")
    assert scout.shape is None and "orientations" in scout.problem and scout.orientation is None


def test_written_series_and_junk(tmp_path, make_volume, rng):
    first, second = make_volume(), make_volume(oblique=False)
    write_dicom(first, tmp_path / "a", patient_id="P1")
    write_dicom(second, tmp_path / "b" / "deeper", modality="MR", series_description="T1")
    (tmp_path / "notes.txt").write_text("not DICOM")
    # Noise, but not beginning as a dataset without preamble does (an element of group 0002 or 0008,
    # which list_series reads as DICOM): plain noise beginning 02 00 (1 draw in 65536) was a broken
    # DICOM file, not junk.
    (tmp_path / "noise.bin").write_bytes(b"\xff" + rng.bytes(999))
    found = list_series(tmp_path, workers=2)
    assert len(found) == 2 and len(found.skipped) == 2
    by_modality = {s.modality: s for s in found}
    assert by_modality["CT"].shape == first.shape and by_modality["CT"].patient_id == "P1"
    assert by_modality["MR"].description == "T1" and len(by_modality["MR"].files) == second.shape[0]
    np.testing.assert_allclose(by_modality["MR"].spacing, second.spacing, rtol=1e-9)
    assert "MR" in str(by_modality["MR"])


def test_the_error_of_a_folder_of_many_series_names_ten(tmp_path, make_volume):
    """read_dicom of a cohort's root: the error names 10 series and counts the rest (regression: it
    listed all of them, one line each, 200 lines for the demo cohort)."""
    for number in range(12):
        write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / f"s{number:02d}")
    uids = {pydicom.dcmread(next((tmp_path / f"s{n:02d}").iterdir())).SeriesInstanceUID for n in range(12)}
    with pytest.raises(DicomError, match=r"hold 12 series; pass series_uid=") as caught:
        read_dicom(tmp_path, device="cpu")
    lines = str(caught.value).splitlines()
    assert len(lines) == 1 + 10 + 1 and lines[-1] == "  ... and 2 more (gpuimg.list_series lists them all)"
    assert sum(uid in line for uid in uids for line in lines[1:11]) == 10


def test_missing_folder(tmp_path):
    with pytest.raises(DicomError, match="no such file"):
        list_series(tmp_path / "absent")


@pytest.mark.parametrize("read", [list_series, read_dicom])
def test_a_path_the_os_cannot_look_at_is_a_dicom_error_naming_it(tmp_path, read):
    # Path.is_dir and is_file answer False for a missing path only; any other OSError of the stat (a
    # name over the 255 bytes of NAME_MAX, a folder on the way that the user may not open) went out
    # as itself, and gpuimg info ended in its traceback.
    long = tmp_path / ("a" * 300)
    with pytest.raises(OSError) as system:  # the operating system's own refusal
        os.stat(long)
    assert system.value.errno == errno.ENAMETOOLONG
    for given in (long, [long]):
        with pytest.raises(DicomError) as caught:
            read(given)
        assert str(caught.value).startswith(f"{long}: cannot be read ({os.strerror(errno.ENAMETOOLONG)}).")


def test_a_folder_the_user_may_not_open_is_named_not_taken_for_empty(tmp_path, make_volume):
    # A folder that may not be listed was 'the folder holds no files', a folder inside it or a file
    # in it a PermissionError traceback out of Path.is_dir.
    write_dicom(make_volume(), tmp_path / "locked" / "ct")
    (tmp_path / "locked").chmod(0)
    try:
        denied = os.strerror(errno.EACCES)
        for path in (tmp_path / "locked", tmp_path / "locked" / "ct", tmp_path / "locked" / "ct" / "x.dcm"):
            for call in ("list_series", "read_dicom"):
                done = run_as_user(
                    sys.executable,
                    "-c",
                    "import gpuimg\n"
                    f"try: gpuimg.{call}({str(path)!r})\n"
                    "except gpuimg.DicomError as exc: print(exc)",
                )
                assert done.returncode == 0, done.stderr
                assert done.stdout.startswith(f"{path}: cannot be read ({denied})."), (call, done.stdout)
    finally:
        (tmp_path / "locked").chmod(0o755)


def test_folders_under_it_that_may_not_be_listed_are_returned_not_dropped(tmp_path, make_volume):
    # A subfolder that may not be listed was left out without a trace: list_series gave the other
    # series as if they were all, and of a folder holding only such folders said 'holds no files'.
    for name in ("a", "b", "c"):
        write_dicom(make_volume(), tmp_path / name / "ct")
    code = (
        "import os, sys, gpuimg\n"
        "for name in 'abc':\n"
        "    try: os.listdir(os.path.join(sys.argv[1], name))\n"
        "    except PermissionError: print('refused', name)\n"
        "try:\n"
        "    found = gpuimg.list_series(sys.argv[1])\n"
        "    print(len(found), *found.unlisted)\n"
        "except gpuimg.DicomError as exc: print(exc)"
    )
    try:
        for name in ("a", "c"):
            (tmp_path / name).chmod(0)
        some = run_as_user(sys.executable, "-c", code, str(tmp_path))
        (tmp_path / "b").chmod(0)
        none = run_as_user(sys.executable, "-c", code, str(tmp_path))
    finally:
        for name in ("a", "b", "c"):
            (tmp_path / name).chmod(0o755)
    assert some.returncode == 0 and none.returncode == 0, some.stderr + none.stderr
    # The system's refusals, the reference, then what list_series found.
    assert some.stdout.splitlines() == ["refused a", "refused c", f"1 {tmp_path / 'a'} {tmp_path / 'c'}"]
    lines = none.stdout.splitlines()
    assert lines[:3] == ["refused a", "refused b", "refused c"]
    assert lines[3].startswith(f"{tmp_path}: the folder holds no files; 3 folders under it may not be listed")


def test_read_dicom_names_the_folders_it_may_not_list(tmp_path, make_volume):
    # A series exported in chunks (a PACS's 0001/, 0002/ ...) with one chunk that may not be listed:
    # read_dicom returned the slices of the others, a shorter volume, without a word.
    volume = make_volume(shape=(8, 6, 5), oblique=False)
    files = write_dicom(volume, tmp_path / "all")
    for k, path in enumerate(sorted(files, key=lambda f: pydicom.dcmread(f).ImagePositionPatient[2])):
        (tmp_path / "export" / f"{k // 4 + 1:04d}").mkdir(parents=True, exist_ok=True)
        path.rename(tmp_path / "export" / f"{k // 4 + 1:04d}" / path.name)
    (tmp_path / "other" / "locked").mkdir(parents=True)
    (tmp_path / "other" / "notes.txt").write_text("not DICOM")
    code = (
        "import os, sys, warnings, gpuimg\n"
        "for folder in sys.argv[1:]:\n"
        "    try: os.listdir(os.path.join(folder, 'locked' if 'other' in folder else '0002'))\n"
        "    except PermissionError: print('refused')\n"
        "    with warnings.catch_warnings(record=True) as caught:\n"
        "        warnings.simplefilter('always')\n"
        "        try: print(gpuimg.read_dicom(folder, device='cpu').shape[0])\n"
        "        except gpuimg.DicomError as exc: print(exc)\n"
        "    print(*(w.message for w in caught), sep='\\n')"
    )
    locked = [tmp_path / "export" / "0002", tmp_path / "other" / "locked"]
    try:
        for folder in locked:
            folder.chmod(0)
        done = run_as_user(sys.executable, "-c", code, str(tmp_path / "export"), str(tmp_path / "other"))
    finally:
        for folder in locked:
            folder.chmod(0o755)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # The system's refusal, the reference; the 4 slices of 0001 are read, and the warning names 0002.
    assert lines[:3] == [
        "refused",
        "4",
        f"Skipped {locked[0]}: the folder may not be listed (permission denied), so its files were not read; "
        "where they belong to this series, the volume lacks their slices. Ask for read access to it.",
    ]
    np.testing.assert_array_equal(
        read_dicom(tmp_path / "export" / "0001", device="cpu").data, volume.data[:4]
    )
    assert lines[3] == "refused"
    assert lines[4].startswith(
        f"No DICOM images among 1 file ({tmp_path / 'other' / 'notes.txt'}): it is not"
    )
    assert lines[4].endswith(
        f"; 1 folder under it may not be listed (permission denied), so their files were not looked at "
        f"(find {tmp_path / 'other'} -type d ! -readable lists them)."
    )


def test_broken_files_reported_not_fatal(tmp_path, make_volume):
    files = write_dicom(make_volume(), tmp_path / "ct")
    (tmp_path / "cut.dcm").write_bytes(files[0].read_bytes()[:300])
    found = list_series(tmp_path)
    assert len(found) == 1 and list(found.broken) == [tmp_path / "cut.dcm"]


def test_empty_marker_files_are_skipped_but_empty_dicom_names_are_broken(tmp_path, make_volume):
    # An export tool's empty marker (export_done.flag, scan.lock) made the study fail as a DICOM file
    # cut short to 0 bytes; a file named as DICOM files are (a DICOM suffix, none, or a UID) still is one.
    files = write_dicom(make_volume(), tmp_path / "ct")
    markers = [tmp_path / "ct" / "export_done.flag", tmp_path / "scan.lock"]
    for marker in markers:
        marker.write_bytes(b"")
    found = list_series(tmp_path)
    assert len(found) == 1 and not found.broken and set(markers) <= set(found.skipped)
    assert len(found[0].files) == len(files)
    cut = [tmp_path / "ct" / name for name in ("IM0099", "1.2.826.0.1.3680043.8.498.99", "slice_99.dcm")]
    for path in cut:
        path.write_bytes(b"")
    assert sorted(list_series(tmp_path).broken) == sorted(cut)


def test_macos_appledouble_companions_are_skipped_not_broken(tmp_path, make_volume):
    # A series copied from a Mac to a USB stick gets "._slice_0000.dcm" beside each file: AppleDouble
    # attributes with the DICOM suffix. They were broken DICOM files, so every such study failed.
    volume = make_volume()
    files = write_dicom(volume, tmp_path / "ct")
    header = (0x00051607).to_bytes(4, "big") + (0x00020000).to_bytes(4, "big") + b"Mac OS X".ljust(16)
    companions = [path.with_name("._" + path.name) for path in files]
    for companion in companions:
        companion.write_bytes(header + bytes(4070))
    found = list_series(tmp_path)
    assert len(found) == 1 and not found.broken and sorted(found.skipped) == sorted(companions)
    np.testing.assert_array_equal(read_dicom(tmp_path / "ct").data, volume.data)
    (tmp_path / "ct" / "cut.dcm").write_bytes(files[0].read_bytes()[:300])  # still broken
    assert list(list_series(tmp_path).broken) == [tmp_path / "ct" / "cut.dcm"]


def test_read_dicom_of_a_listed_series_reads_no_header_again(
    tmp_path, make_volume, monkeypatch, pydicom_reference, sitk_files, sitk_read
):
    from gpuimg import ParameterError, read_dicom
    from gpuimg.io import _scan, dicom

    write_dicom(make_volume(), tmp_path / "ct")
    write_dicom(make_volume(oblique=False), tmp_path / "mr", modality="MR")
    by_modality = {s.modality: s for s in list_series(tmp_path)}
    parsed = []
    monkeypatch.setattr(_scan, "_quick", lambda path: parsed.append(path))
    monkeypatch.setattr(dicom, "_stack", lambda *args, **kwargs: pytest.fail("the slices were sorted again"))
    volume = read_dicom(by_modality["MR"], device="cpu")
    assert parsed == []  # the headers list_series parsed were used, and the slice order it found
    files = sitk_files(tmp_path / "mr")
    np.testing.assert_array_equal(volume.data, pydicom_reference(files))
    _, spacing, origin, direction = sitk_read(files)
    np.testing.assert_allclose(volume.spacing, spacing, rtol=1e-6)
    np.testing.assert_allclose(volume.origin, origin, atol=1e-4)
    np.testing.assert_allclose(volume.direction, direction, atol=1e-6)
    assert volume.meta["series_uid"] == by_modality["MR"].series_uid
    with pytest.raises(ParameterError, match="series_uid"):
        read_dicom(by_modality["MR"], by_modality["CT"].series_uid, device="cpu")


def test_files_listed_as_sorted_rglob(tmp_path):
    """The folder listing equals pathlib's: recursive, hidden files, links to files, sorted paths."""
    for name in ["a/z.txt", "a.txt", "a-b.txt", "A", "b/c/d/e.bin", ".hidden", ".dir/f", "é.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"not DICOM")
    (tmp_path / "empty").mkdir()
    (tmp_path / "b" / "to_file").symlink_to(tmp_path / "a.txt")
    (tmp_path / "to_folder").symlink_to(tmp_path / "a", target_is_directory=True)  # not followed
    (tmp_path / "broken").symlink_to(tmp_path / "absent")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    expected = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert len(expected) == 9  # the 8 files and the link to a file
    found = list_series(tmp_path)
    assert len(found) == 0 and found.skipped == expected and not found.broken


def test_a_folder_of_links_to_series_lists_each_linked_folder_once(tmp_path, make_volume):
    # A cohort of links to the studies' folders (as gpuimg run takes it: each link a study) was 'the
    # folder holds no files, only 2 links to folders, which are not followed'. Links are followed now,
    # each folder once: a link back up the tree (a loop) and a second link to a listed folder are not.
    for name in ("s0", "s1"):
        write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "raw" / name)
        (tmp_path / "cohort" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "cohort" / name).symlink_to(tmp_path / "raw" / name, target_is_directory=True)
    # The reference: each file of the linked folders once, by its real path.
    expected = sorted(p.resolve() for name in ("s0", "s1") for p in (tmp_path / "raw" / name).iterdir())
    (tmp_path / "cohort" / "s2").symlink_to(tmp_path / "raw" / "s0", target_is_directory=True)
    (tmp_path / "cohort" / "s1" / "up").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "cohort" / "self").symlink_to(tmp_path / "cohort", target_is_directory=True)
    for path in (tmp_path / "cohort", tmp_path / "cohort" / "s0" / ".."):
        found = list_series(path)
        assert len(found) == 2 and not found.skipped and not found.broken
        assert sorted(f.resolve() for series in found for f in series.files) == expected
        assert sorted(f.parent.name for series in found for f in series.files) == ["s0"] * 2 + ["s1"] * 2
    assert read_dicom(tmp_path / "cohort" / "s1", device="cpu").shape == (2, 4, 5)


def _leads_nowhere(root: Path) -> dict[Path, str]:
    """The links under ``root`` whose target the system cannot reach, with the system's reason: the
    reference for what the listing could not follow (os.walk lists links to folders as folders)."""
    found = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder) / name
            try:
                os.stat(path)
            except FileNotFoundError:
                found[path] = "its target does not exist"
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    found[path] = "a loop of links"
    return found


def test_links_that_lead_nowhere_are_returned_not_dropped(tmp_path, make_volume):
    # A link to a folder that was moved (an archive's study renamed), or a loop of links, was left out
    # without a trace: list_series gave the other series as if they were all, read_dicom read the
    # series without a word, and a folder of such links alone was 'the folder holds no files'.
    write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "cohort" / "s0")
    write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "raw" / "s1")
    (tmp_path / "cohort" / "s1").symlink_to(tmp_path / "raw" / "s1-moved", target_is_directory=True)
    (tmp_path / "cohort" / "s0" / "loop").symlink_to(tmp_path / "cohort" / "s0" / "loop")
    (tmp_path / "cohort" / "s2").symlink_to(tmp_path / "raw" / "s1", target_is_directory=True)  # fine
    (tmp_path / "cohort" / "s3").symlink_to(tmp_path / "cohort", target_is_directory=True)  # a loop: once
    expected = _leads_nowhere(tmp_path / "cohort")
    assert len(expected) == 2
    found = list_series(tmp_path / "cohort")
    assert len(found) == 2 and found.dangling == expected
    assert not found.skipped and not found.broken and not found.unlisted
    with pytest.warns(UserWarning) as caught:
        read_dicom(tmp_path / "cohort" / "s0", device="cpu")
    assert [str(w.message) for w in caught] == [
        f"Skipped {tmp_path / 'cohort' / 's0' / 'loop'}: the link leads nowhere (a loop of links), so what "
        "it linked to was not read; where that was part of this series, the volume lacks its slices. Fix "
        "or remove the link."
    ]
    # A folder of such links alone: the error counts them (a link may be named by its patient).
    (tmp_path / "lost").mkdir()
    (tmp_path / "lost" / "MRN-0001").symlink_to(tmp_path / "absent", target_is_directory=True)
    (tmp_path / "lost" / "MRN-0002").symlink_to(tmp_path / "lost" / "MRN-0002")
    assert len(_leads_nowhere(tmp_path / "lost")) == 2
    for call in (list_series, lambda path: read_dicom(path, device="cpu")):
        with pytest.raises(DicomError) as caught:
            call(tmp_path / "lost")
        message = str(caught.value)
        assert message.startswith(f"{tmp_path / 'lost'}: the folder holds no files; 2 links under it ")
        assert "leading nowhere" in message and "MRN" not in message


def test_links_into_folders_that_may_not_be_searched_are_returned_not_dropped(tmp_path, make_volume):
    # A link into a folder the user may not search (a colleague's archive, mode 000) was left out
    # without a trace, where a subfolder that may not be listed (a link to one too) is returned in
    # unlisted. The reference: the system's refusals, as the user, to look at the link's target (s1)
    # and to list the other's (s2).
    write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "cohort" / "s0")
    for name in ("s1", "s2"):
        write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "archive" / name)
        (tmp_path / "cohort" / name).symlink_to(tmp_path / "archive" / name, target_is_directory=True)
    code = (
        "import os, sys, gpuimg\n"
        "for look, name in ((os.stat, 's1'), (os.listdir, 's2')):\n"
        "    try: look(os.path.join(sys.argv[1], name))\n"
        "    except PermissionError: print('refused', name)\n"
        "found = gpuimg.list_series(sys.argv[1])\n"
        "print(len(found), *found.unlisted, len(found.dangling))"
    )
    try:
        (tmp_path / "archive" / "s2").chmod(0)
        done = run_as_user(sys.executable, "-c", code, str(tmp_path / "cohort"))
        (tmp_path / "archive").chmod(0)
        done_all = run_as_user(sys.executable, "-c", code, str(tmp_path / "cohort"))
    finally:
        for folder in (tmp_path / "archive", tmp_path / "archive" / "s2"):
            folder.chmod(0o755)
    assert done.returncode == 0 and done_all.returncode == 0, done.stderr + done_all.stderr
    cohort = tmp_path / "cohort"
    assert done.stdout.splitlines() == ["refused s2", f"2 {cohort / 's2'} 0"]
    assert done_all.stdout.splitlines() == [
        "refused s1",
        "refused s2",
        f"1 {cohort / 's1'} {cohort / 's2'} 0",
    ]


def test_a_path_that_is_a_link_leading_nowhere_says_so(tmp_path, make_volume):
    # A folder or file passed as a link to a moved target, or a loop of links, was 'no such file. Check
    # the path.' (the loop is there); a cohort's study linked to a moved folder failed with that too.
    write_dicom(make_volume(shape=(2, 4, 5)), tmp_path / "s0")
    (tmp_path / "moved").symlink_to(tmp_path / "s0-moved", target_is_directory=True)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "slice.dcm").symlink_to(tmp_path / "absent.dcm")
    links = [tmp_path / name for name in ("moved", "loop", "slice.dcm")]
    # The reference: the system's own reasons (os.stat's), and os.walk sees them as files.
    assert _leads_nowhere(tmp_path) == {
        links[0]: "its target does not exist",
        links[1]: "a loop of links",
        links[2]: "its target does not exist",
    }
    for link in links:
        why = _leads_nowhere(tmp_path)[link]
        for call in (list_series, lambda path: read_dicom(path, device="cpu")):
            with pytest.raises(DicomError) as caught:
                call(link)
            assert str(caught.value) == (
                f"{link}: the link leads nowhere ({why}), so nothing was read. Fix or remove the link."
            )
    with pytest.raises(DicomError) as caught:
        read_dicom([*sorted((tmp_path / "s0").iterdir()), links[2], links[1]], device="cpu")
    assert str(caught.value) == (
        f"{links[2]}, {links[1]}: links leading nowhere (a target that does not exist, or a loop of "
        "links), so nothing was read. Fix or remove the links."
    )
    with pytest.raises(DicomError, match=r"no such file\. Check the path\."):  # no link: as before
        read_dicom([tmp_path / "absent.dcm"], device="cpu")


@pytest.mark.parametrize(
    ("seconds", "workers", "threaded"),
    [(0.0, None, False), (2 * _scan._SLOW_FILE, None, True), (0.0, 2, True), (0.0, 1, False)],
)
def test_headers_are_read_in_threads_only_from_slow_storage_or_when_asked(
    monkeypatch, seconds, workers, threaded
):
    """By default the first run of files is read in the calling thread, and the rest too unless that
    run took more than _SLOW_FILE a file; results keep the files' order either way."""
    readers = {}

    def read(path):
        time.sleep(seconds)
        readers[path] = threading.get_ident()

    monkeypatch.setattr(_scan, "_read_header", read)
    paths = [Path(f"file{k:03d}") for k in range(3 * _scan._SCAN_RUN + 5)]
    headers, broken, skipped = _scan._scan(paths, workers)
    assert (headers, broken, skipped) == ([], {}, paths)
    others = {path for path, thread in readers.items() if thread != threading.get_ident()}
    first = set(paths[: _scan._SCAN_RUN])
    if workers is None:
        assert not others & first  # the first run tells how fast the storage is
    assert bool(others) == threaded
    if threaded and workers is None:
        assert others == set(paths) - first


def test_orientation_of_a_series_whose_cosines_differ_by_rounding(series):
    # Cosines rounded differently per slice are one orientation to read_dicom, but list_series gave
    # orientation None ('they differ'), so a selection of axial series by orientation left it out.
    folder, _, files = series
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.ImageOrientationPatient = [float(c) + (-1) ** k * 2e-6 for c in ds.ImageOrientationPatient]
        ds.save_as(path)
    (info,) = list_series(folder)
    first = pydicom.dcmread(sorted(files)[0]).ImageOrientationPatient
    assert info.problem is None and info.orientation == tuple(float(c) for c in first)
    volume = read_dicom(info, device="cpu")
    np.testing.assert_allclose(np.r_[volume.direction[:, 2], volume.direction[:, 1]], first, atol=1e-5)
    # Orientations that differ (a scout among the slices) still give None.
    ds = pydicom.dcmread(files[2])
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    ds.save_as(files[2])
    (info,) = list_series(folder)
    assert info.problem is not None and info.orientation is None


def test_orientation_of_a_refused_series_of_one_orientation(series):
    # A series refused for something else (a slice missing) keeps its one orientation, pydicom's; one
    # whose every file's header is refused (no frames) has none.
    folder, _, files = series
    ordered = sorted(files, key=lambda path: float(pydicom.dcmread(path).ImagePositionPatient[2]))
    ordered[len(ordered) // 2].unlink()
    (info,) = list_series(folder)
    first = pydicom.dcmread(sorted(set(files) - {ordered[len(ordered) // 2]})[0]).ImageOrientationPatient
    assert "missing" in info.problem and info.orientation == tuple(float(c) for c in first)
    for path in set(files) - {ordered[len(ordered) // 2]}:
        ds = pydicom.dcmread(path)
        ds.Rows = 0
        ds.save_as(path)
    (info,) = list_series(folder)
    assert "Rows" in info.problem and info.orientation is None


@pytest.mark.parametrize("colour", ["RGB", "PALETTE COLOR"])
def test_a_colour_series_is_listed_with_the_problem_read_dicom_has(series, colour):
    # list_series gave a colour series a shape and no problem, which read_dicom then refused.
    folder, _, files = series
    for path in files:
        ds = pydicom.dcmread(path)
        ds.PhotometricInterpretation, ds.PixelRepresentation = colour, 0
        if colour == "RGB":
            ds.SamplesPerPixel, ds.PlanarConfiguration = 3, 0
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            ds.PixelData = np.zeros((ds.Rows, ds.Columns, 3), np.uint8).tobytes()
        else:
            for k in range(3):  # red, green, blue: descriptors (0028,1101-1103) and tables (0028,1201-1203)
                ds.add_new(0x00281101 + k, "US", [256, 0, 16])
                ds.add_new(0x00281201 + k, "OW", np.arange(256, dtype="<u2").tobytes())
        ds.save_as(path)
    if colour == "RGB":  # the reference: pydicom decodes three samples a pixel
        assert pydicom.dcmread(files[0]).pixel_array.shape[-1] == 3
    (info,) = list_series(folder)
    with pytest.raises(DicomError) as refused:
        read_dicom(folder, device="cpu")
    assert info.shape is None and info.problem == str(refused.value)
    assert "colour" in info.problem


@pytest.mark.parametrize("change", ["colour", "cut short"])
def test_one_file_unlike_the_rest_of_its_series_is_refused_by_name(series, rng, change):
    # _check_series checks the values of a file the quick reader took once for the files that repeat
    # them: one file that differs, anywhere after the first, is still refused, naming it.
    folder, _, files = series
    odd = sorted(files)[int(rng.integers(1, len(files)))]
    if change == "colour":
        ds = pydicom.dcmread(odd)
        ds.PhotometricInterpretation = "PALETTE COLOR"
        ds.save_as(odd)
        expected = f"{odd}: PALETTE COLOR pixels"
    else:
        with open(odd, "r+b") as file:
            file.truncate(odd.stat().st_size - 20)
        claimed = "1 frame of 12 x 10 pixels at 16 bits (240 bytes)"
        expected = (
            f"{odd}: the header claims {claimed}, but the pixel data hold 220 bytes. The file is truncated"
        )
    assert _quick_reader._read_tags(odd) is not None  # the quick reader takes it, as it takes the others
    with pytest.raises(DicomError) as refused:
        read_dicom(folder, device="cpu")
    assert str(refused.value).startswith(expected)
    (info,) = list_series(folder)
    assert info.shape is None and info.problem == str(refused.value)


def test_identifiers_of_several_values_are_given_as_written(series):
    # A UID or study ID of two values (backslash-separated in the file) is given as the file writes it,
    # as pydicom's Dataset holds it joined, not as the repr of a Python list.
    folder, _, files = series
    written = {
        "SeriesInstanceUID": "1.2.826.0.1.3680043.2.1\\1.2.826.0.1.3680043.2.2",
        "StudyInstanceUID": "1.2.826.0.1.3680043.2.3\\1.2.826.0.1.3680043.2.4",
        "FrameOfReferenceUID": "1.2.826.0.1.3680043.2.5\\1.2.826.0.1.3680043.2.6",
        "StudyID": "A1\\B2",
    }
    for file in files:
        ds = pydicom.dcmread(file)
        for keyword, value in written.items():
            setattr(ds, keyword, value)
        ds.save_as(file)
    # pydicom reads each as two values; their text as written is the values joined by a backslash.
    read = pydicom.dcmread(files[0])
    assert all("\\".join(read[keyword].value) == value for keyword, value in written.items())
    meta = read_dicom(folder, device="cpu").meta
    (info,) = list_series(folder)
    assert meta["series_uid"] == info.series_uid == written["SeriesInstanceUID"]
    assert meta["study_uid"] == info.study_uid == written["StudyInstanceUID"]
    assert meta["frame_of_reference_uid"] == written["FrameOfReferenceUID"]
    assert meta["study_id"] == info.study_id == written["StudyID"]


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"PhotometricInterpretation": "PALETTE COLOR"},
        {"SamplesPerPixel": 3, "PhotometricInterpretation": "RGB"},
        {"BitsAllocated": 1},
        {"ImageType": ["ORIGINAL", "PRIMARY", "RECON GATED TOMO"], "NumberOfTimeSlots": 8},
        {
            "ImageType": ["ORIGINAL", "PRIMARY", "RECON GATED TOMO"],
            "TimeSlotVector": [1, 2],
            "SliceVector": [1, 1],
        },
    ],
)
def test_the_values_a_series_check_reads_are_those_it_compares_among_files(series, values):
    # _check_series checks a file once for the files whose _checked_as values equal its own: the
    # header values its checks (check_pixels, _check_grey, _check_gates) read, on each of their
    # branches, must all be among series._CHECKED, or a file differing in another would pass unchecked.
    import dataclasses

    from gpuimg.io import series as series_module
    from gpuimg.io._scan import _read_header

    _, _, files = series
    header = _read_header(files[0])
    read = set()

    class Recording(_tags._Tags):
        def get(self, keyword, default=None):
            read.add(keyword)
            return super().get(keyword, default)

        def __getitem__(self, keyword):
            read.add(keyword)
            return super().__getitem__(keyword)

        def __contains__(self, keyword):
            read.add(keyword)
            return super().__contains__(keyword)

    assert type(header.dataset) is _tags._Tags  # the quick reader's header, which _checked_as takes
    recording = Recording({**header.dataset, **values})  # of the quick reader's transfer syntax
    header = dataclasses.replace(header, dataset=recording)
    checks = (
        header.check_pixels,
        lambda: series_module._check_grey(header),
        lambda: series_module._check_gates(header),
    )
    for check in checks:
        with contextlib.suppress(DicomError):  # the refusals too read what they name
            check()
    assert read and read <= set(series_module._CHECKED)


def test_a_file_pydicom_refuses_unforced_is_judged_from_its_first_bytes(series, rng, monkeypatch):
    # A mask.nrrd beside the slices was opened 5 times before it was skipped: a file with neither
    # 'DICM' at byte 128 nor a dataset's first element at its start is refused by pydicom unforced, so
    # _read_header judges it from its first 132 bytes. The verdict is pydicom's (and that of the whole
    # read, which the test forces by taking every file for a dataset without preamble at first).
    from pydicom.errors import InvalidDicomError

    folder, _, files = series
    dicom = files[0].read_bytes()
    implicit = folder / "implicit.dcm"
    ds = pydicom.dcmread(files[1])
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ImplicitVRLittleEndian  # pydicom reads it, not _tags
    ds.save_as(implicit)
    no_preamble = folder / "no_preamble"
    pydicom.dcmread(files[2]).save_as(no_preamble, enforce_file_format=False)  # starts with (0008,xxxx)
    noise = rng.integers(1, 256, 400, dtype=np.uint8).tobytes()
    written = {
        "mask.nrrd": b"NRRD0004\ntype: uint8\ndimension: 3\nsizes: 4 4 4\nencoding: raw\n\n" + bytes(64),
        "notes.txt": b"a report",
        "export_done.flag": b"",
        "IM0099": b"",
        "1.2.826.0.1.3680043.8.498.99": bytes(60),
        "noise.dcm": noise,
        "cut.dcm": dicom[:100],
        "cut_meta.dcm": dicom[:300],
        "._slice.dcm": (0x00051607).to_bytes(4, "big") + bytes(400),
        "element_then_noise": b"\x08\x00" + noise,  # pydicom reads it forced: whatever it finds
    }
    for name, content in written.items():
        (folder / name).write_bytes(content)
    paths = [folder / name for name in written] + [implicit, no_preamble, files[3]]
    opened = []
    real_open, real_os_open = open, os.open
    monkeypatch.setattr(
        "builtins.open", lambda file, *a, **k: opened.append(file) or real_open(file, *a, **k)
    )
    monkeypatch.setattr(os, "open", lambda file, *a, **k: opened.append(file) or real_os_open(file, *a, **k))
    for path in paths:
        opened.clear()
        verdict = _scan._read_header(path)
        opens = len([file for file in opened if Path(file) == path])
        start = path.read_bytes()[:132]
        refused = False
        try:
            pydicom.dcmread(path, stop_before_pixels=True)
        except InvalidDicomError:
            refused = True
        if refused and start[:2] not in (b"\x08\x00", b"\x02\x00"):  # pydicom refuses it unforced
            assert verdict is None or verdict.startswith("it is cut short"), path.name
            assert opens <= 2, path.name
        with monkeypatch.context() as whole:
            whole.setattr(_scan, "_raw_start", lambda start: True)
            reference = _scan._read_header(path)
        assert type(verdict) is type(reference), path.name
        if not isinstance(verdict, _scan._Header):
            assert verdict == reference, path.name
    verdicts = {path.name: _scan._read_header(path) for path in paths if path.name != "element_then_noise"}
    assert [name for name, verdict in verdicts.items() if verdict is None] == [
        "mask.nrrd",
        "notes.txt",
        "export_done.flag",
        "._slice.dcm",
    ]
    assert {name for name, verdict in verdicts.items() if isinstance(verdict, _scan._Header)} == {
        "implicit.dcm",
        "no_preamble",
        files[3].name,
    }


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"Rows": 0},
        {"BitsAllocated": 12},
        {"BitsStored": 17},
        {"PixelRepresentation": 2},
        {"NumberOfFrames": 0},
    ],
)
def test_the_quick_headers_claims_verdict_kept_for_a_series_is_that_of_pydicoms_dataset(series, change):
    # _claims_problem keeps its verdict on the quick reader's values for the next file of the same
    # values and size; each file's verdict is that of pydicom's dataset of the file, read afresh.
    from gpuimg.io._header import _claims_problem

    _, _, files = series
    for path in files[:3]:
        ds = pydicom.dcmread(path)
        for keyword, value in change.items():
            setattr(ds, keyword, value)
        ds.save_as(path)
    # Each file at its size, then the first two again as cut to 100 bytes (fewer than the pixels need).
    for path, size in [(path, path.stat().st_size) for path in files[:3]] + [
        (files[0], 100),
        (files[1], 100),
    ]:
        quick = _quick_reader._read_tags(path)
        assert quick is not None
        verdict = _claims_problem(path, quick[0], size)
        assert verdict == _claims_problem(path, pydicom.dcmread(path), size)
        assert (verdict is None) == (not change and size > 100)


def test_a_matched_file_of_another_size_is_judged_by_its_own_size(tmp_path, make_volume, monkeypatch):
    # The files after the first two are matched to the series' template; a file of the first matched
    # file's size passes the verdict on the pixel description as that file did, one of another size is
    # judged: cut to a few bytes of pixels, it cannot hold the pixels its header claims.
    files = write_dicom(make_volume(shape=(6, 64, 64)), tmp_path / "s")
    # Instance UIDs of one length: random ones of another length (a shorter one where its last digits
    # began with 0) make another file meta group length, which the first two files share, and a file of
    # that other length is walked, not matched, as a file differing in any shared element is.
    for k, path in enumerate(files):
        ds = pydicom.dcmread(path)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{100 + k}"
        ds.save_as(path)
    cut = files[4]
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data) - 64 * 64 * 2 + 100])  # the header and 100 bytes of pixels
    ds, size = pydicom.dcmread(cut, stop_before_pixels=True), cut.stat().st_size
    claimed = ds.Rows * ds.Columns * ds.BitsAllocated // 8
    assert size < claimed
    expected = (
        f"the header claims 1 frame of {ds.Rows} x {ds.Columns} pixels at {ds.BitsAllocated} bits, which "
        f"need {claimed} bytes uncompressed, but the whole file is {size} bytes. The file is truncated or "
        "its header is wrong; export it again."
    )
    monkeypatch.setattr(_quick_reader, "_template", None)  # no template of another test's series
    monkeypatch.setattr(_quick_reader, "_walked", None)
    headers = [_scan._read_header(path) for path in files]
    assert [header.dataset.template is not None for header in headers] == [False, False] + [True] * 4
    assert [header.problem for header in headers] == [None] * 4 + [expected, None]
    assert headers[4].frames == () and headers[5].n_frames == 1
    (found,) = list_series(tmp_path / "s")
    assert found.problem == f"{cut}: {expected}"


def test_files_without_dicm_are_told_apart_by_their_first_bytes(tmp_path, make_volume, monkeypatch):
    """Files of at least 132 bytes without 'DICM' at byte 128 beside a series, each opened once: one with
    a DICOM suffix is broken, an AppleDouble file and a text file are skipped, and a dataset without
    preamble (CT_small.dcm's, written without its file meta) is read by pydicom as a slice."""
    files = write_dicom(make_volume(shape=(3, 16, 16)), tmp_path / "s")
    junk, double, text = tmp_path / "s" / "junk.dcm", tmp_path / "s" / "._0.dcm", tmp_path / "s" / "notes.txt"
    junk.write_bytes(bytes(range(256)) * 2)
    double.write_bytes(b"\x00\x05\x16\x07" + bytes(300))
    text.write_text("not an image " * 20)
    raw = tmp_path / "s" / "raw"
    ds = pydicom.dcmread(files[0])
    ds.SeriesInstanceUID, ds.SOPInstanceUID = "1.2.3.4", "1.2.3.4.1"
    buffer = pydicom.filebase.DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(buffer, ds)  # no preamble, no file meta
    raw.write_bytes(buffer.getvalue())
    assert raw.read_bytes()[128:132] != b"DICM" and raw.read_bytes()[:2] == b"\x08\x00"
    opened = Counter()
    start = _scan._start
    monkeypatch.setattr(_scan, "_start", lambda path: opened.update([path.name]) or start(path))
    found = list_series(tmp_path / "s")
    assert found.broken == {junk: "it is cut short (512 bytes) or has no DICOM header"}
    assert sorted(found.skipped) == sorted([double, text])
    assert sorted((s.series_uid, s.n_slices) for s in found) == sorted(
        [(pydicom.dcmread(files[0]).SeriesInstanceUID, 3), ("1.2.3.4", 1)]
    )
    assert not {junk.name, double.name, text.name} & set(opened)  # their first bytes read once
