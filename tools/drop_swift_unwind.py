#!/usr/bin/env python3
"""Drops the unwind tables of Swift functions from a static kata-agent, and the file bytes they held.

A statically linked Swift program carries a DWARF unwind record (an FDE in .eh_frame) for every
function, 3.6 MB in the release agent, plus .eh_frame_hdr's sorted index of them (0.8 MB). Swift
never unwinds through its own frames: errors are return values, a trap stops the process without
a backtrace (static binaries have no backtracer), and C++ exceptions cannot cross Swift code. What
may unwind in the agent is C++ code catching its own exceptions (the agent links no C++ library
that throws today; toml++, through TOMLKit, did) and glibc's forced unwinding of a thread that
calls pthread_exit, which stops at the first frame without a record and exits the thread all the
same. So the records of Swift functions go, those of C and C++ code stay, and the index goes:
crtbeginT.o registers .eh_frame with libgcc at start-up, and libgcc looks FDEs up through that
registration (it sorts them on first use) before it would ever consult PT_GNU_EH_FRAME.

The rewrite, on a linked (unstripped: the symbol table says which functions are Swift) ELF
executable whose .eh_frame and .eh_frame_hdr end its first loadable segment, as gold lays out the
agent:
- .eh_frame is rebuilt in place from the records it keeps, in their order; CIE pointers and
  pc-relative fields (an FDE's start and LSDA, a CIE's personality routine) are re-encoded for their
  new position, and a zero terminator ends it;
- the first segment ends after that terminator, the PT_GNU_EH_FRAME header becomes PT_NULL, and
  .eh_frame_hdr becomes an empty NOBITS section;
- the file bytes from there to the next segment are cut by a whole number of pages, so every later
  segment keeps its address and its offset stays congruent to it; section offsets follow.

Anything the tool does not recognise (another pointer encoding, a 64-bit record length, another
layout) stops it with one line and leaves the input untouched. It writes to --out, never in place.
"""

from __future__ import annotations

import argparse
import bisect
import os
import struct
import sys

PAGE = 4096
PT_LOAD, PT_NULL, PT_GNU_EH_FRAME = 1, 0, 0x6474E550
SHT_SYMTAB, SHT_NOBITS = 2, 8
STT_FUNC = 2

# DWARF pointer encodings (low nibble: format; 0x10: pc-relative).
DW_EH_PE_omit = 0xFF
FIXED_SIZES = {0x00: 8, 0x02: 2, 0x03: 4, 0x04: 8, 0x0A: 2, 0x0B: 4, 0x0C: 8}
SIGNED = {0x0A, 0x0B, 0x0C}
DW_EH_PE_pcrel = 0x10
DW_EH_PE_indirect = 0x80


class Unsupported(Exception):
    """The input is not laid out or encoded as this tool knows how to rewrite."""


def uleb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise Unsupported("truncated LEB128 in .eh_frame")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def sleb(data: bytes, pos: int) -> tuple[int, int]:
    start = pos
    value, pos = uleb(data, pos)
    bits = 7 * (pos - start)
    if data[pos - 1] & 0x40:
        value -= 1 << bits
    return value, pos


def pointer_field(encoding: int) -> tuple[int, bool, bool]:
    """Size of a pointer with this encoding (its indirect bit aside), whether it is pc-relative,
    and whether it is signed."""
    encoding &= ~DW_EH_PE_indirect
    application = encoding & 0x70
    if application not in (0x00, DW_EH_PE_pcrel):
        raise Unsupported(f"pointer encoding {encoding:#x} (only absolute and pc-relative are handled)")
    fmt = encoding & 0x0F
    if fmt not in FIXED_SIZES:
        raise Unsupported(f"pointer encoding {encoding:#x} (variable-length formats are not handled)")
    return FIXED_SIZES[fmt], application == DW_EH_PE_pcrel, fmt in SIGNED


def read_int(data: bytes | bytearray, pos: int, size: int, signed: bool) -> int:
    return int.from_bytes(data[pos:pos + size], "little", signed=signed)


def write_int(out: bytearray, pos: int, size: int, signed: bool, value: int) -> None:
    try:
        out[pos:pos + size] = value.to_bytes(size, "little", signed=signed)
    except OverflowError as error:
        raise Unsupported(f"re-encoded pointer {value:#x} does not fit {size} bytes") from error


class CIE:
    """What FDEs need from their CIE, and where its personality pointer sits."""

    def __init__(self, data: bytes, start: int, end: int) -> None:
        pos = start + 8
        version = data[pos]
        pos += 1
        nul = data.index(b"\0", pos, end)
        self.augmentation = data[pos:nul].decode("ascii", "replace")
        pos = nul + 1
        if "eh" in self.augmentation:
            raise Unsupported("CIE augmentation 'eh' (pre-DWARF2 GCC) is not handled")
        _, pos = uleb(data, pos)
        _, pos = sleb(data, pos)
        if version == 1:
            pos += 1
        else:
            _, pos = uleb(data, pos)
        fde_encoding = 0x00
        # (size, pc-relative, signed) of the LSDA pointer its FDEs carry, if they carry one.
        self.lsda: tuple[int, bool, bool] | None = None
        # (offset in the record, size, signed) of a pc-relative personality pointer, if any.
        self.personality: tuple[int, int, bool] | None = None
        if self.augmentation.startswith("z"):
            _, pos = uleb(data, pos)
            for letter in self.augmentation[1:]:
                if letter == "R":
                    fde_encoding = data[pos]
                    pos += 1
                elif letter == "L":
                    if data[pos] != DW_EH_PE_omit:
                        self.lsda = pointer_field(data[pos])
                    pos += 1
                elif letter == "P":
                    size, pcrel, signed = pointer_field(data[pos])
                    pos += 1
                    self.personality = (pos - start, size, signed) if pcrel else None
                    pos += size
                elif letter not in "SB":
                    raise Unsupported(f"CIE augmentation letter {letter!r}")
        elif self.augmentation:
            raise Unsupported(f"CIE augmentation {self.augmentation!r} without 'z'")
        # (size, pc-relative, signed) of its FDEs' start and length fields.
        self.fde_field = pointer_field(fde_encoding)


class Elf:
    """The headers of a 64-bit little-endian ELF executable."""

    def __init__(self, data: bytes) -> None:
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise Unsupported("not a 64-bit little-endian ELF file")
        (self.phoff, self.shoff) = struct.unpack_from("<QQ", data, 0x20)
        (self.phentsize, self.phnum, self.shentsize, self.shnum, self.shstrndx) = struct.unpack_from("<HHHHH", data, 0x36)
        self.phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, self.phoff + i * self.phentsize)) for i in range(self.phnum)]
        self.shdrs = [list(struct.unpack_from("<IIQQQQIIQQ", data, self.shoff + i * self.shentsize)) for i in range(self.shnum)]
        strtab = self.shdrs[self.shstrndx]
        names = data[strtab[4]:strtab[4] + strtab[5]]
        self.names = [names[s[0]:names.index(b"\0", s[0])].decode() for s in self.shdrs]

    @property
    def has_eh_frame_header(self) -> bool:
        return any(p[0] == PT_GNU_EH_FRAME for p in self.phdrs)

    def section(self, name: str) -> int:
        if name not in self.names:
            raise Unsupported(f"no {name} section")
        return self.names.index(name)

    def write_headers(self, out: bytearray) -> None:
        struct.pack_into("<QQ", out, 0x20, self.phoff, self.shoff)
        for i, phdr in enumerate(self.phdrs):
            struct.pack_into("<IIQQQQQQ", out, self.phoff + i * self.phentsize, *phdr)
        for i, shdr in enumerate(self.shdrs):
            struct.pack_into("<IIQQQQIIQQ", out, self.shoff + i * self.shentsize, *shdr)


def function_symbols(data: bytes, elf: Elf) -> dict[int, list[bytes]]:
    """The names of the function symbols at each address (identical code folding gives one
    address several)."""
    symtabs = [s for s in elf.shdrs if s[1] == SHT_SYMTAB]
    if not symtabs:
        raise Unsupported("no symbol table (run it before stripping)")
    symtab = symtabs[0]
    strtab = elf.shdrs[symtab[6]]
    strings = data[strtab[4]:strtab[4] + strtab[5]]
    names: dict[int, list[bytes]] = {}
    for offset in range(symtab[4], symtab[4] + symtab[5], 24):
        name_off, info, _, _, value, _ = struct.unpack_from("<IBBHQQ", data, offset)
        if info & 0xF == STT_FUNC and value:
            names.setdefault(value, []).append(strings[name_off:strings.index(b"\0", name_off)])
    return names


def is_swift(name: bytes) -> bool:
    return name.startswith(b"$s") or name.startswith(b"_$s")


def swift_only_starts(data: bytes, elf: Elf) -> tuple[list[int], list[bool]]:
    """Function start addresses, sorted, and whether every symbol naming that address is Swift's."""
    names = function_symbols(data, elf)
    starts = sorted(names)
    return starts, [all(is_swift(n) for n in names[a]) for a in starts]


class Record:
    """One .eh_frame record: a CIE, or an FDE with its CIE and the address it starts covering."""

    def __init__(self, start: int, end: int, cie: CIE, cie_start: int, is_cie: bool, pc_begin: int = 0) -> None:
        self.start, self.end, self.cie, self.cie_start, self.is_cie, self.pc_begin = start, end, cie, cie_start, is_cie, pc_begin


def records(data: bytes, base: int, address: int, size: int):
    """The records of the .eh_frame at file offset `base` and address `address`, in order."""
    cies: dict[int, CIE] = {}
    pos = 0
    while pos < size:
        (length,) = struct.unpack_from("<I", data, base + pos)
        if length == 0:
            # The libgcc registration walks records up to this word; one before the end would hide
            # records that only .eh_frame_hdr's index reached, and that index goes.
            if pos + 4 != size:
                raise Unsupported(f".eh_frame ends at {pos:#x}, before its last {size - pos - 4} bytes")
            return
        if length == 0xFFFFFFFF:
            raise Unsupported("64-bit .eh_frame record length")
        start, end = pos, pos + 4 + length
        if end > size:
            raise Unsupported(f".eh_frame record at {pos:#x} runs past the section")
        (cie_id,) = struct.unpack_from("<I", data, base + start + 4)
        if cie_id == 0:
            cies[start] = CIE(data, base + start, base + end)
            yield Record(start, end, cies[start], start, True)
        else:
            cie_start = start + 4 - cie_id
            if cie_start not in cies:
                raise Unsupported(f"FDE at {pos:#x} names no CIE seen before it")
            cie = cies[cie_start]
            width, pcrel, signed = cie.fde_field
            raw = read_int(data, base + start + 8, width, signed)
            pc_begin = (raw + (address + start + 8 if pcrel else 0)) & ((1 << 64) - 1)
            yield Record(start, end, cie, cie_start, False, pc_begin)
        pos = end
    raise Unsupported(".eh_frame has no terminating zero word")


def fde_starts(data: bytes) -> list[int]:
    """The start address of every FDE in an executable's .eh_frame (for tests and diagnosis)."""
    elf = Elf(data)
    eh = elf.shdrs[elf.section(".eh_frame")]
    return [r.pc_begin for r in records(data, eh[4], eh[3], eh[5]) if not r.is_cie]


def rebuild_eh_frame(data: bytes, base: int, address: int, size: int, starts: list[int], swift: list[bool]) -> tuple[bytearray, int, int]:
    """The kept records of the .eh_frame at file offset `base`, relocated to the same address."""
    out = bytearray()
    moved_cie: dict[int, int] = {}
    kept = dropped = 0
    for r in records(data, base, address, size):
        if not r.is_cie:
            i = bisect.bisect_left(starts, r.pc_begin)
            if i < len(starts) and starts[i] == r.pc_begin and swift[i]:
                dropped += 1
                continue
        record = bytearray(data[base + r.start:base + r.end])
        new_start = len(out)
        delta = r.start - new_start  # how far the record moves towards the section's start
        if r.is_cie:
            moved_cie[r.start] = new_start
            if r.cie.personality is not None:
                field, width, signed = r.cie.personality
                write_int(record, field, width, signed, read_int(record, field, width, signed) + delta)
            out += record
            continue
        cie = r.cie
        struct.pack_into("<I", record, 4, new_start + 4 - moved_cie[r.cie_start])
        width, pcrel, signed = cie.fde_field
        if pcrel:
            write_int(record, 8, width, signed, read_int(record, 8, width, signed) + delta)
        if cie.lsda is not None:
            _, lsda = uleb(record, 8 + 2 * width)
            lsda_width, lsda_pcrel, lsda_signed = cie.lsda
            value = read_int(record, lsda, lsda_width, lsda_signed)
            # A zero pc-relative LSDA pointer means "none" to libgcc and stays zero.
            if lsda_pcrel and value != 0:
                write_int(record, lsda, lsda_width, lsda_signed, value + delta)
        out += record
        kept += 1
    out += b"\0\0\0\0"
    return out, kept, dropped


def rewrite(data: bytes) -> tuple[bytearray, str]:
    elf = Elf(data)
    if not elf.has_eh_frame_header:
        raise Unsupported("no PT_GNU_EH_FRAME header (rewritten already?)")
    eh = elf.shdrs[elf.section(".eh_frame")]
    hdr_index = elf.section(".eh_frame_hdr")
    hdr = elf.shdrs[hdr_index]
    loads = [p for p in elf.phdrs if p[0] == PT_LOAD]
    first = loads[0]
    segment_end = first[3] + first[5]
    if not (eh[3] < hdr[3] and hdr[3] + hdr[5] == segment_end and first[2] == 0):
        raise Unsupported(".eh_frame and .eh_frame_hdr do not end the first loadable segment")
    later = loads[1:]
    if not later:
        raise Unsupported("only one loadable segment")
    next_offset = min(p[2] for p in later)
    # Every byte from .eh_frame to the next segment is rewritten or cut: nothing else may live there.
    for i, s in enumerate(elf.shdrs):
        if s is eh or s is hdr or s[1] == SHT_NOBITS or not s[5]:
            continue
        if s[4] < next_offset and s[4] + s[5] > eh[4]:
            raise Unsupported(f"section {elf.names[i]} lies between .eh_frame and the next segment")
    starts, swift = swift_only_starts(data, elf)
    frame, kept, dropped = rebuild_eh_frame(data, eh[4], eh[3], eh[5], starts, swift)
    new_end = eh[4] + len(frame)  # file offset of the first segment's new end
    cut = (next_offset - new_end) // PAGE * PAGE
    if cut <= 0:
        raise Unsupported("nothing to cut")

    # The file: everything up to the new .eh_frame's end, then everything from the next
    # segment's page on (shifted down by `cut`), with the bytes in between zeroed.
    out = bytearray(data[:next_offset - cut])
    out[eh[4]:new_end] = frame
    out[new_end:] = bytes(len(out) - new_end)
    out += data[next_offset:]

    new_size = new_end - eh[4]
    old_eh_size, old_hdr_size = eh[5], hdr[5]
    first[5] = first[6] = new_end - first[2]
    for p in elf.phdrs:
        if p[0] == PT_GNU_EH_FRAME:
            p[:] = [PT_NULL, 0, 0, 0, 0, 0, 0, 0]
        elif p is not first and p[2] >= next_offset:
            p[2] -= cut
    for i, s in enumerate(elf.shdrs):
        if s is eh:
            s[5] = new_size
        elif i == hdr_index:
            s[1] = SHT_NOBITS
            s[4] = new_end
            s[5] = 0
            s[3] = eh[3] + new_size
        elif s[4] >= next_offset:
            s[4] -= cut
    if elf.shoff >= next_offset:
        elf.shoff -= cut
    elf.write_headers(out)
    summary = (f".eh_frame {old_eh_size} -> {new_size} bytes ({kept} FDEs kept, {dropped} of Swift functions "
               f"dropped), .eh_frame_hdr {old_hdr_size} -> 0 bytes, file {len(data)} -> {len(out)} bytes")
    return out, summary


def write_in_pages(path: str, data: bytes | bytearray) -> None:
    """Writes `data` one page per write(2). The page cache then holds the file in base pages, as
    it holds the linker's output (gold writes through a mapping); one large write leaves it in
    large folios on recent kernels (6.18 here), and a process mapping the binary gets whole folios
    mapped by fault-around: the release agent's idle RSS read 17.8 MB instead of 7.2 MB for the
    same bytes, a floor program's 5.1 instead of 2.5 MB."""
    view = memoryview(data)
    with open(path, "wb", buffering=0) as f:
        pos = 0
        while pos < len(view):
            written = f.write(view[pos:pos + PAGE])
            if not written:
                raise OSError(f"write to {path} made no progress at {pos}")
            pos += written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="linked, unstripped static executable")
    parser.add_argument("--out", required=True, help="where the rewritten executable goes")
    args = parser.parse_args()
    with open(args.input, "rb") as f:
        data = f.read()
    try:
        out, summary = rewrite(data)
    except (Unsupported, ValueError, struct.error, IndexError) as error:
        print(f"drop_swift_unwind: {args.input}: {error}", file=sys.stderr)
        return 1
    # Whole or not at all: an interrupted run leaves no half-written agent behind.
    partial = args.out + ".partial"
    write_in_pages(partial, out)
    os.chmod(partial, os.stat(args.input).st_mode & 0o7777)
    os.replace(partial, args.out)
    print(f"drop_swift_unwind: {args.out}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
