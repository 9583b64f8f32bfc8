#!/usr/bin/env python3
"""Writes a copy of libc.a whose objects each name their code section after themselves.

glibc's libc.a is compiled without -ffunction-sections: every object keeps its code in a section
called `.text`, and gold's --section-ordering-file matches input sections by name only, so the C
library's functions that an agent start runs (the IFUNC resolvers of the static start-up, malloc,
stdio, the string functions, spread over 1.5 MB) could not be placed next to the rest of the
start's code, and the kernel's fault-around kept about 850 KiB of libc's pages resident. In the
copy, member `memset.o` has `.text.libc.memset` instead, which Sources/kata-agent/link-order.txt
can name (bench/link_order.py maps the libc functions it traced to these names).

The string functions' CPU-specific builds keep their code in sections named after the instruction
set (`.text.avx`, `.text.evex`, `.text.sse4.2`...), shared the same way; those are renamed to the
object's name too. Cold code (`.text.unlikely`) keeps its name and stays apart.

Only section names change (objcopy --rename-section), the members keep their order, and `ar D`
writes no timestamps: the same libc.a gives the same copy. Release builds of kata-agent link it
ahead of the toolchain's `-lc` (Package.swift, KATA_SECTIONED_LIBC; Makefile).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile

PREFIX = ".text.libc."
# Code sections shared by name across libc.a's objects: plain code and the per-ISA builds.
SHARED_CODE = re.compile(r"^\.text(\.(avx|avx2|avx512|evex|evex512|sse2|ssse3|sse4\.1|sse4\.2|atom|compat)(\.rtm)?)?$")


def member_section(member: str) -> str:
    """The code section name a libc.a member gets in the copy."""
    return PREFIX + re.sub(r"\.o$", "", member)


def system_libc() -> str:
    path = subprocess.run(["cc", "-print-file-name=libc.a"], capture_output=True, text=True, check=True).stdout.strip()
    if not os.path.isabs(path) or not os.path.isfile(path):
        raise RuntimeError(f"cc -print-file-name=libc.a gave '{path}': is libc6-dev installed?")
    return path


def code_sections(archive: str) -> dict[str, set[str]]:
    """Member -> the names of its code sections that other members share."""
    listing = subprocess.run(["readelf", "-SW", archive], capture_output=True, text=True, check=True).stdout
    sections: dict[str, set[str]] = {}
    member = None
    for line in listing.splitlines():
        header = re.match(r"^File: .*\((.+)\)$", line)
        if header:
            member = header.group(1)
            sections[member] = set()
            continue
        # [ 1] .text             PROGBITS        0000000000000000 000040 0000f1 00  AX  0   0 16
        match = re.match(r"^\s*\[\s*\d+\]\s+(\S+)\s+PROGBITS\s", line)
        if member and match and SHARED_CODE.match(match.group(1)):
            sections[member].add(match.group(1))
    return sections


def write_copy(source: str, destination: str) -> int:
    """Writes the sectioned copy of `source` to `destination`; returns the member count."""
    members = subprocess.run(["ar", "t", source], capture_output=True, text=True, check=True).stdout.split()
    if len(set(members)) != len(members):
        raise RuntimeError(f"{source} holds two members of one name; extracting would lose one")
    code = code_sections(source)
    os.makedirs(os.path.dirname(os.path.abspath(destination)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="libc-sections-") as work:
        subprocess.run(["ar", "x", os.path.abspath(source)], cwd=work, check=True)
        for member in members:
            renames = [f"--rename-section={name}={member_section(member)}" for name in sorted(code.get(member, ()))]
            if renames:
                subprocess.run(["objcopy", *renames, member], cwd=work, check=True)
        partial = os.path.abspath(destination) + ".partial"
        if os.path.exists(partial):
            os.unlink(partial)
        subprocess.run(["ar", "rcD", partial, *members], cwd=work, check=True)
        os.replace(partial, destination)
    return len(members)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="where to write the copy (e.g. .build-release/libc-sections/libc.a)")
    parser.add_argument("--libc", help="the libc.a to copy (default: the one cc links)")
    args = parser.parse_args()
    try:
        source = args.libc or system_libc()
        count = write_copy(source, args.out)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        print(f"libc_sections: {error}", file=sys.stderr)
        return 1
    print(f"libc_sections: {count} members of {source} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
