"""Crafting files in the reference's checkpoint format (a zip of header.json and .npy members),
for tests/07_training's extras: read a checkpoint's members, write them back changed, with
central-directory entries that zipfile's writer would never produce (flags, sizes), and
members that decompress to far more than they take on disk.

Imports no tinytorch.
"""

import io
import warnings
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

MIB = 1 << 20


@dataclass(frozen=True)
class Repeated:
    """Member content ``head`` then ``mebibytes`` MiB of the byte ``fill``, written deflated:
    about a thousandth of that on disk, and never built in memory."""

    head: bytes
    fill: int
    mebibytes: int

    def deflated(self):
        """(raw deflate stream, CRC-32, uncompressed size)."""
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        block = bytes([self.fill]) * MIB
        head = compressor.compress(self.head) + compressor.flush(zlib.Z_FULL_FLUSH)
        # A full flush restarts the compressor and refers back to nothing, so one compressed
        # MiB, repeated, decompresses to that MiB repeated.
        repeated = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
        stream = head + repeated * self.mebibytes + compressor.flush()
        crc = zlib.crc32(self.head)
        for _ in range(self.mebibytes):
            crc = zlib.crc32(block, crc)
        return stream, crc, len(self.head) + self.mebibytes * MIB


def members_of(path):
    """Member name -> bytes, in the archive's order."""
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rewrite(path, members, edit=None):
    """Write a zip archive at ``path`` of ``members`` (a dict, or (name, content) pairs, so
    that a name may come twice), each content bytes or Repeated. ``edit(info)``, if given,
    may then change each member's central-directory entry (what zipfile reads back: flags,
    compression method, sizes, CRC) before the archive is closed."""
    pairs = members.items() if isinstance(members, dict) else members
    with zipfile.ZipFile(path, "w") as archive, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # wanted, when asked
        for name, content in pairs:
            info = zipfile.ZipInfo(name)  # stored: the bytes go in as they are
            if isinstance(content, Repeated):
                stream, crc, size = content.deflated()
                archive.writestr(info, stream)
                info.compress_type, info.CRC, info.file_size = zipfile.ZIP_DEFLATED, crc, size
            else:
                archive.writestr(info, content)
            if edit is not None:
                edit(info)


def npy_header(shape, dtype, fortran_order=False):
    """The bytes of an .npy header (format 1.0) declaring ``shape`` and ``dtype``, whatever
    data follows it."""
    buffer = io.BytesIO()
    header = {"descr": np.dtype(dtype).str, "fortran_order": fortran_order, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def npy_bytes(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()
