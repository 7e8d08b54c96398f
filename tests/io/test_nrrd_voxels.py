"""NRRD voxels read by gpuimg's own gzip route equal pynrrd's reading, and damaged streams are refused.

``read_image`` decompresses the gzip-encoded voxels attached to a NRRD header itself (bounded by the
header's size, checked by zlib's CRC and length) and leaves every other layout to pynrrd.
"""

import gzip

import nrrd
import numpy as np
import pytest

from gpuimg.errors import ImageFileError
from gpuimg.io import read_image


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, ">i2"])
@pytest.mark.parametrize("encoding", ["gzip", "raw"])
def test_voxels_equal_pynrrd(tmp_path, dtype, encoding):
    data = np.random.default_rng(1).integers(-500, 500, (7, 5, 3)).astype(dtype)
    path = tmp_path / "image.nrrd"
    nrrd.write(str(path), data, {"encoding": encoding})
    expected, _ = nrrd.read(str(path))  # axes (i, j, k)
    image = read_image(path, device="cpu")
    np.testing.assert_array_equal(image.data, expected.transpose(2, 1, 0))
    assert image.data.dtype.newbyteorder("=") == np.dtype(dtype).newbyteorder("=")
    assert image.data.flags.writeable and image.data.flags.c_contiguous


def test_detached_gzip_voxels_equal_pynrrd(tmp_path):
    data = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    path = tmp_path / "image.nhdr"
    nrrd.write(str(path), data, {"encoding": "gzip"}, detached_header=True)
    np.testing.assert_array_equal(read_image(path, device="cpu").data, data.transpose(2, 1, 0))


def _gzip_nrrd(tmp_path, payload: bytes, sizes=(4, 5, 6)):
    path = tmp_path / "mask.nrrd"
    header = f"NRRD0004\ntype: uint8\ndimension: 3\nsizes: {' '.join(map(str, sizes))}\nencoding: gzip\n\n"
    path.write_bytes(header.encode() + payload)
    return path


def test_truncated_gzip_voxels(tmp_path):
    full = gzip.compress(np.arange(120, dtype=np.uint8).tobytes())
    path = _gzip_nrrd(tmp_path, full[: len(full) // 2])
    with pytest.raises(ImageFileError, match=r"mask\.nrrd.*truncated or corrupted"):
        read_image(path, device="cpu")


def test_corrupted_gzip_voxels_fail_the_crc(tmp_path):
    """A flipped byte in a stored (uncompressed) deflate block: only the gzip CRC can tell."""
    stored = bytearray(gzip.compress(np.arange(120, dtype=np.uint8).tobytes(), compresslevel=0))
    stored[len(stored) // 2] ^= 0x10
    with pytest.raises(ImageFileError, match=r"mask\.nrrd"):
        read_image(_gzip_nrrd(tmp_path, bytes(stored)), device="cpu")


@pytest.mark.parametrize("voxels", [60, 240])
def test_gzip_voxels_of_another_size(tmp_path, voxels):
    """A stream holding fewer or more voxels than the header's 120 is refused, the larger one unread."""
    path = _gzip_nrrd(tmp_path, gzip.compress(bytes(voxels)))
    with pytest.raises(ImageFileError, match=r"mask\.nrrd.*(end early|run on)"):
        read_image(path, device="cpu")
