"""A hand-made disk image of upstream osbuilder's layout, only for proving the harness and the
module-loading stage before osbuilder's images exist: MBR with partition 1 at 1 MiB holding
ext4, optionally behind the 2 MiB NVDIMM/DAX header (MBR #1 at 3 MiB plus an nd_pfn_sb)."""

from __future__ import annotations

import pathlib
import struct
import subprocess

MIB = 1 << 20


def _mbr(start_lba: int, sectors: int) -> bytes:
    entry = struct.pack("<B3sB3sII", 0x80, b"\xff\xff\xff", 0x83, b"\xff\xff\xff", start_lba, sectors)
    return b"\0" * 446 + entry + b"\0" * 48 + b"\x55\xaa"


def _pfn_superblock() -> bytes:
    body = bytearray(4096)
    struct.pack_into("<16s16s16sIHHQQIIII", body, 0, b"NVDIMM_PFN_INFO\0", b"\0" * 16, b"\0" * 16,
                     0, 0, 2, 2 * MIB, 0, 1, 0, 0, 2 * MIB)
    lo = hi = 0
    for (word,) in struct.iter_unpack("<I", bytes(body)):
        lo = (lo + word) & 0xFFFFFFFF
        hi = (hi + lo) & 0xFFFFFFFF
    struct.pack_into("<Q", body, 4088, (hi << 32) | lo)
    return bytes(body)


def build(staging: pathlib.Path, out: pathlib.Path, size_mib: int = 128, dax: bool = False) -> pathlib.Path:
    """ext4 of `staging` in partition 1; with `dax` the result is 2 MiB longer."""
    header = 2 * MIB if dax else 0
    fs_offset = header + MIB
    total = header + size_mib * MIB
    fs_bytes = total - fs_offset
    with open(out, "wb") as fh:
        fh.truncate(total)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-b", "4096", "-d", str(staging),
                    "-E", f"offset={fs_offset}", str(out), f"{fs_bytes // 1024}k"],
                   check=True, capture_output=True)
    with open(out, "r+b") as fh:
        if dax:
            fh.write(_mbr(fs_offset // 512, fs_bytes // 512))
            fh.seek(4096)
            fh.write(_pfn_superblock())
        fh.seek(header)
        fh.write(_mbr(MIB // 512, fs_bytes // 512))
    return out
