"""Requests for every RPC, generated from the proto schema with boundary values.

The generator walks each request message's descriptor (agentclient's generated modules) and
fills fields from pools chosen by the field's type and, for strings, by its name: ids get the
ids the run has seen plus malformed ones, paths get `..`, symlinks and over-long names, sizes get
the extremes that once trapped the agent ("18446744073709551615GB", Int64.max timeouts). Some
requests start from a valid template and change one field, so validation passes and the code
behind it runs; some are re-encoded with damaged bytes (truncation, wrong wire types, deeply
nested groups) so the decoder sees what no generated client would send.

Everything is drawn from one `random.Random(seed)`: a failing request is reproduced by its seed
and index.
"""

from __future__ import annotations

import random
from typing import Any

from google.protobuf.descriptor import FieldDescriptor as FD

from agentclient import _varint

INT32 = [0, 1, -1, 2, 7, 9, 15, 64, 1024, 2**31 - 1, -2**31, 2**30]
UINT32 = [0, 1, 2, 9, 15, 64, 0o7777, 2**31, 2**32 - 1, 4096]
INT64 = [0, 1, -1, 2**63 - 1, -2**63, 10**18, 2**53 + 1, 4096, 1 << 40, 1000000000]
UINT64 = [0, 1, 2**64 - 1, 2**63, 2**32, 4096, 1 << 40, 10**19]
DOUBLES = [0.0, -1.0, 1e308, -1e308, float("inf"), float("-inf"), float("nan"), 5e-324]

PATHS = [
    "", "/", ".", "..", "/tmp", "/tmp/kata-fuzz", "/run/kata-containers", "/run/kata-containers/shared/containers/",
    "/run/kata-containers/c1/rootfs", "/../../../etc/passwd", "/proc/self/root/etc", "/proc/1/root",
    "/dev/null", "/dev/vda", "/dev/pmem0", "/sys/fs/cgroup", "relative/path", "a/../../b",
    "/tmp/kata-fuzz/loop", "/tmp/kata-fuzz/escape/x", "/x\x00y", "/" + "a" * 255, "/" + "a" * 256,
    "/" + "a/" * 2100, "//double//slash//", "/trailing/", "/dev/../etc", "/run/sandbox-ns/uts",
]
IDS = ["", "c1", "c2", "e1", "sandbox", ".", "..", "../c1", "a/b", "x" * 300, "\x00", "-", "é", "c1 ", "C1"]
STRINGS = ["", "a", "0", "-1", "18446744073709551616", "true", "%s%n", "\n", "\x00", "é\u202e",
           "a" * 4096, "a=b", "=", ",", "\\"]
SIZES = ["2MB", "1GB", "4KB", "0KB", "-2MB", "18446744073709551615GB", "9223372036854775807KB",
         "99999999999999999999MB", "2mb", "MB", "", "1.5MB", "64KiB"]
CPUS = ["0", "0-1", "0-99999999999999999999", "1,2,", "-1", "a", "", "0-0", "3-1", "0,0,0", "4294967296"]
OPTIONS = ["ro", "rw", "bind", "rbind", "nosuid", "nodev", "noexec", "size=1k", "size=18446744073709551615",
           "mode=07777", "mode=-1", "uid=-1", "gid=4294967296", "", "=", "a=b=c", "loop", "dax", "private",
           "rshared", "X-mount.mkdir", "context=\"x\"", "nr_inodes=0", "lowerdir=/a:/b", "upperdir=..", "fsid=x",
           "io.katacontainers.fs-opt.overlay-rw", "workdir=/tmp"]
DRIVERS = ["blk", "mmioblk", "scsi", "nvdimm", "virtio-fs", "9p", "local", "ephemeral", "overlayfs", "watchable-bind",
           "image_guest_pull", "virtio-blk-ccw", "", "bogus"]
DEVICE_TYPES = ["blk", "mmioblk", "scsi", "nvdimm", "vfio-pci", "vfio-ap", "vfio", "virtio-net", "", "bogus"]
FSTYPES = ["ext4", "xfs", "erofs", "tmpfs", "virtiofs", "overlay", "bind", "proc", "sysfs", "9p", "", "none", "fuse.x"]
VM_PATHS = ["", "0000:00:02.0", "02/00", "02/00/01", "00/ff", "0:0", "0:1", "255:65535", "/dev/vda", "/dev/pmem0",
            "/sys/devices/platform/a000000.virtio_mmio", "../../sys", "99999999999/00", "1:99999999999"]
USERS = ["0", "-1", "4294967295", "4294967296", "99999999999", "root", "", "nobody", "1000"]
SIGNALS_HINT = [0, 1, 9, 15, 19, 31, 64, 65, 2**31, 2**32 - 1]
ADDRESSES = ["10.0.0.1", "::1", "fe80::1", "0.0.0.0", "255.255.255.255", "300.1.1.1", "", "10.0.0.1/33", "abc",
             "10.0.0.0/24", "default", "::/0"]
MACS = ["02:00:00:00:00:01", "", "ff:ff:ff:ff:ff:ff", "02:00:00:00:00", "zz:00:00:00:00:00", "02-00-00-00-00-01"]
IFACES = ["eth0", "lo", "", "a" * 16, "a" * 15, "eth0/../lo", "eth0\x00", "veth-fuzz"]


class Generator:
    """Random requests for one message type at a time; remembers ids that the agent accepted."""

    def __init__(self, seed: int, scratch: str = "/tmp/kata-fuzz", max_bytes: int = 1 << 20):
        self.rng = random.Random(seed)
        self.scratch = scratch
        self.max_bytes = max_bytes
        self.live_ids: list[str] = []
        self.templates: dict[str, Any] = {}

    # ---- the request ---------------------------------------------------------------------
    def request(self, message_class) -> Any:
        """A message of `message_class`: from a template with one change, or from scratch."""
        template = self.templates.get(message_class.DESCRIPTOR.full_name)
        if template is not None and self.rng.random() < 0.5:
            message = message_class()
            message.CopyFrom(template)
            self._change_one(message, depth=0)
            return message
        message = message_class()
        self._fill(message, depth=0)
        return message

    def encode(self, message) -> bytes:
        """The message's bytes, now and then damaged."""
        data = message.SerializeToString()
        roll = self.rng.random()
        if roll < 0.85:
            return data
        return self.damage(data)

    def damage(self, data: bytes) -> bytes:
        rng = self.rng
        kind = rng.randrange(8)
        if kind == 0 and data:                       # truncated mid-field
            return data[:rng.randrange(len(data))]
        if kind == 1 and data:                       # flipped bytes
            out = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
            return bytes(out)
        if kind == 2:                                # a known field number with the wrong wire type
            number = rng.randint(1, 12)
            return data + _varint(number << 3 | rng.choice([0, 1, 2, 5])) + bytes(rng.randrange(12))
        if kind == 3:                                # deeply nested groups (wire types 3/4)
            depth = rng.choice([100, 1000, 100000])
            key = rng.randint(1, 2000)
            return data + _varint(key << 3 | 3) * depth + _varint(key << 3 | 4) * depth
        if kind == 4:                                # deeply nested length-delimited field 1
            inner = b""
            for _ in range(rng.choice([50, 200, 5000])):
                inner = _varint(1 << 3 | 2) + _varint(len(inner)) + inner
            return inner + data
        if kind == 5:                                # a length that runs past the end
            return data + _varint(rng.randint(1, 15) << 3 | 2) + _varint(rng.choice([2**31, 2**63, 1000]))
        if kind == 6:                                # an over-long varint
            return data + _varint(1 << 3 | 0) + b"\xff" * rng.choice([10, 11, 64])
        return bytes(rng.randrange(256) for _ in range(rng.randrange(64)))

    # ---- filling -------------------------------------------------------------------------
    def _fill(self, message, depth: int) -> None:
        rng = self.rng
        chance = 0.7 if depth < 2 else 0.35
        for field in message.DESCRIPTOR.fields:
            if rng.random() > chance:
                continue
            self._set(message, field, depth)

    def _change_one(self, message, depth: int) -> None:
        fields = message.DESCRIPTOR.fields
        if not fields:
            return
        field = self.rng.choice(fields)
        if field.type == FD.TYPE_MESSAGE and not _is_repeated(field) and message.HasField(field.name) \
                and self.rng.random() < 0.7:
            self._change_one(getattr(message, field.name), depth + 1)
            return
        message.ClearField(field.name)
        self._set(message, field, depth)

    def _set(self, message, field, depth: int) -> None:
        rng = self.rng
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            container = getattr(message, field.name)
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            for _ in range(self._count()):
                key = self._scalar(key_field)
                if value_field.type == FD.TYPE_MESSAGE:
                    if depth < 6:
                        self._fill(container[key], depth + 1)
                else:
                    container[key] = self._scalar(value_field)
            return
        if _is_repeated(field):
            container = getattr(message, field.name)
            for _ in range(self._count()):
                if field.type == FD.TYPE_MESSAGE:
                    if depth < 6:
                        self._fill(container.add(), depth + 1)
                else:
                    container.append(self._scalar(field))
            return
        if field.type == FD.TYPE_MESSAGE:
            if depth < 6:
                child = getattr(message, field.name)
                child.SetInParent()
                self._fill(child, depth + 1)
            return
        setattr(message, field.name, self._scalar(field))

    def _count(self) -> int:
        roll = self.rng.random()
        if roll < 0.9:
            return self.rng.randint(0, 3)
        return self.rng.choice([8, 64, 300])

    def _scalar(self, field):
        rng = self.rng
        kind = field.type
        if kind == FD.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
            return rng.choice(INT32) if rng.random() < 0.8 else rng.randint(-2**31, 2**31 - 1)
        if kind in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
            if "signal" in field.name.lower():
                return rng.choice(SIGNALS_HINT)
            return rng.choice(UINT32) if rng.random() < 0.8 else rng.randint(0, 2**32 - 1)
        if kind in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
            return rng.choice(INT64) if rng.random() < 0.8 else rng.randint(-2**63, 2**63 - 1)
        if kind in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
            return rng.choice(UINT64) if rng.random() < 0.8 else rng.randint(0, 2**64 - 1)
        if kind in (FD.TYPE_FLOAT, FD.TYPE_DOUBLE):
            value = rng.choice(DOUBLES)
            return value if kind == FD.TYPE_DOUBLE or abs(value) < 3e38 or value != value or \
                value in (float("inf"), float("-inf")) else 1.0
        if kind == FD.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values]
            return rng.choice(values) if rng.random() < 0.8 else rng.choice([99, -1, 2**31 - 1])
        if kind == FD.TYPE_BYTES:
            return self._bytes()
        return self._string(field.name.lower())

    def _bytes(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return bytes(rng.randrange(256) for _ in range(rng.randrange(32)))
        if roll < 0.97:
            return b"x" * rng.choice([0, 1, 4096, 65536])
        return b"y" * min(self.max_bytes, rng.choice([1 << 20, (4 << 20) - 64, (4 << 20) + 1]))

    def _string(self, name: str) -> str:
        rng = self.rng
        if rng.random() < 0.1:
            return rng.choice(STRINGS)
        if name.endswith("id") or name in ("id", "sandbox_id"):
            pool = IDS + self.live_ids * 3
        elif any(k in name for k in ("path", "mount_point", "destination", "source", "root", "dir", "cwd", "file")):
            pool = PATHS + [f"{self.scratch}/{n}" for n in ("loop", "escape", "dir", "file", "link")]
        elif "pagesize" in name or "page_size" in name or name in ("limit", "size"):
            pool = SIZES
        elif name in ("cpus", "mems", "cpuset", "cpu_list"):
            pool = CPUS
        elif name == "driver":
            pool = DRIVERS
        elif name == "type":
            pool = DEVICE_TYPES + FSTYPES
        elif name in ("fstype", "fs_type"):
            pool = FSTYPES
        elif name in ("options", "driver_options", "data"):
            pool = OPTIONS
        elif name in ("vm_path", "pci_path", "devpath"):
            pool = VM_PATHS
        elif name in ("uid", "gid", "additionalgids", "username", "user"):
            pool = USERS
        elif any(k in name for k in ("address", "dest", "gateway", "ip", "source", "mask")):
            pool = ADDRESSES
        elif "mac" in name or "hw" in name:
            pool = MACS
        elif name in ("name", "device", "interface", "link"):
            pool = IFACES
        else:
            pool = STRINGS + IDS[:4]
        value = rng.choice(pool)
        if rng.random() < 0.02:
            value = value + "z" * rng.choice([5000, 70000])
        return value

    def remember(self, request) -> None:
        """An accepted CreateContainer/ExecProcess makes its ids worth reusing."""
        for name in ("container_id", "exec_id", "sandbox_id"):
            value = getattr(request, name, None)
            if isinstance(value, str) and value and value not in self.live_ids:
                self.live_ids.append(value)
                del self.live_ids[:-16]


def _is_repeated(field) -> bool:
    return field.label == FD.LABEL_REPEATED




def pick(rng: random.Random, weighted: list[tuple[Any, float]]) -> Any:
    """One item of [(item, weight)]."""
    total = sum(w for _, w in weighted)
    roll = rng.random() * total
    for item, weight in weighted:
        roll -= weight
        if roll <= 0:
            return item
    return weighted[-1][0]


def unknown_method(rng: random.Random) -> tuple[str, str]:
    """A service/method pair no server has (or a real service with a bogus method)."""
    service = rng.choice(["grpc.AgentService", "grpc.Health", "grpc.Nope", "", "grpc.AgentService/x", "a" * 500])
    method = rng.choice(["Nope", "", "createContainer", "CreateContainer/", "Check\x00", "é"])
    return service, method

