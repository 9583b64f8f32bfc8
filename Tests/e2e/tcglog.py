"""QEMU's `-d in_asm` log of a TCG guest: every block of guest code QEMU translated, in the
order it did. Under TCG a block is translated the first time it runs and then reused, so the
log is the code a guest ran for the first time, which is where most of a TCG boot's time goes.
Read by bench_boot.py (how much code a boot translates) and bench/link_order.py (which
functions a guest's agent ran, in order).

A block: "IN: [symbol]", then one line per instruction, "0x00400ec0:  31 ed   xorl %ebp, %ebp".
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import subprocess

INSTRUCTION = re.compile(rb"0x([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)")
# The upper half of the x86-64 address space: the guest kernel's code.
KERNEL_SPACE = 0xffff800000000000


@dataclasses.dataclass
class Block:
    """One translated block: its address, its first instruction's bytes, its instruction count."""

    address: int
    first: bytes
    instructions: int


def blocks(log: pathlib.Path | str, upto: int | None = None) -> list[Block]:
    """The log's blocks in order; with `upto`, those in its first `upto` bytes (a size taken
    while QEMU still wrote it: a cut last line is left out)."""
    with open(log, "rb") as f:
        data = f.read() if upto is None else f.read(upto)
    if upto is not None and not data.endswith(b"\n"):
        data = data[:data.rfind(b"\n") + 1]
    found: list[Block] = []
    block: Block | None = None
    for line in data.splitlines():
        if line.startswith(b"IN:"):
            block = None
            continue
        match = INSTRUCTION.match(line)
        if not match:
            continue
        if block is None:
            block = Block(int(match.group(1), 16), bytes.fromhex(match.group(2).decode().replace(" ", "")), 0)
            found.append(block)
        block.instructions += 1
    return found


def executable_segments(binary: str) -> list[tuple[int, int, int]]:
    """(virtual address, file offset, size) of each executable LOAD segment."""
    segments = []
    listing = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    for line in listing.splitlines():
        fields = line.split()
        # LOAD Offset VirtAddr PhysAddr FileSiz MemSiz Flg... Align
        if fields and fields[0] == "LOAD" and "E" in fields[6:-1]:
            segments.append((int(fields[2], 16), int(fields[1], 16), int(fields[4], 16)))
    return segments


def elf_entry(binary: str) -> int:
    with open(binary, "rb") as f:
        header = f.read(32)
    return int.from_bytes(header[24:32], "little")


class Program:
    """A static non-PIE executable as the guest maps it: which translated blocks are its own."""

    def __init__(self, binary: str):
        (self.vaddr, offset, self.size), = executable_segments(binary)
        self.entry = elf_entry(binary)
        with open(binary, "rb") as f:
            f.seek(offset)
            self.text = f.read(self.size)

    def owns(self, block: Block) -> bool:
        """The block lies in the program's text and holds its bytes there (the kernel's early
        boot runs at physical addresses in the same range, another static program at the same
        virtual ones)."""
        at = block.address - self.vaddr
        return 0 <= at < self.size and self.text[at:at + len(block.first)] == block.first

    def started(self, found: list[Block]) -> int | None:
        """Index of the program's first block: its entry point, its bytes."""
        return next((i for i, b in enumerate(found) if b.address == self.entry and self.owns(b)), None)


def translated_since_start(found: list[Block], program: Program) -> dict[str, int]:
    """Guest instructions translated from `program`'s first instruction on, in user space (the
    program, and any other it runs) and in the kernel (paths it is the first to take)."""
    start = program.started(found)
    if start is None:
        raise ValueError(f"the log has no block at the entry point {program.entry:#x}")
    user = kernel = 0
    for block in found[start:]:
        if block.address >= KERNEL_SPACE:
            kernel += block.instructions
        else:
            user += block.instructions
    return {"user": user, "kernel": kernel}
