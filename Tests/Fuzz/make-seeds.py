#!/usr/bin/env python3
"""Writes the committed seed corpus, Tests/Fuzz/corpus/<Target>/: a handful of valid inputs per
fuzz target, built from the repo's own samples. Rerun after changing a format; `make fuzz`
never writes here (it fuzzes a copy)."""
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(ROOT, "Tests", "Fuzz", "corpus")


def write(target, data, name=None):
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.join(CORPUS, target)
    os.makedirs(directory, exist_ok=True)
    name = name or hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


# -- protobuf and framing helpers ---------------------------------------------------------------
def varint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, value):
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def ttrpc_frame(stream, kind, payload, flags=0):
    return struct.pack(">IIBB", len(payload), stream, kind, flags) + payload


def ttrpc_request(service, method, payload=b"", timeout=0, metadata=()):
    body = field(1, service) + field(2, method) + field(3, payload)
    if timeout:
        body += field(4, timeout)
    for key, value in metadata:
        body += field(5, field(1, key) + field(2, value))
    return body


def ttrpc_response(code=0, message="", payload=b""):
    status = (field(1, code) if code else b"") + (field(2, message) if message else b"")
    return field(1, status) + field(2, payload)


def h2_frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack_literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2).
    return b"\x00" + bytes([len(name)]) + name.encode() + bytes([len(value)]) + value.encode()


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def grpc_call(stream, path, message):
    headers = b"".join(hpack_literal(n, v) for n, v in [
        (":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers")])
    body = b"\x00" + struct.pack(">I", len(message)) + message
    return h2_frame(1, 0x4, stream, headers) + h2_frame(0, 0x1, stream, body)


# -- targets ------------------------------------------------------------------------------------
def kernel_cmdline():
    for line in [
        "console=ttyS0 quiet panic=1 agent.log=debug",
        "console=hvc0 agent.log=debug agent.server_addr=serial://agent.channel.0",
        "agent.debug_console agent.debug_console_vport=1026 systemd.unified_cgroup_hierarchy=1",
        "agent.server_addr=vsock://-1:1024 agent.hotplug_timeout=5 agent.container_pipe_size=65536 "
        "agent.devmode agent.trace=true cgroup_no_v1=all",
        "agent.config_file=/etc/kata-agent.toml agent.log=info",
        "agent.server_addr=unix:///run/agent.sock agent.log_vport=1025 agent.passfd_listener_port=1027",
        "agent.server_addr=unix://@kata agent.server_addr=bogus://nowhere agent.log=loud",
    ]:
        write("FuzzKernelCmdline", line + "\n")


def config_toml():
    write("FuzzConfigTOML", """debug_console = true
dev_mode = true
log_level = "debug"
hotplug_timeout = { secs = 7, nanos = 0 }
debug_console_vport = 1026
log_vport = 1025
container_pipe_size = 4096
server_addr = 'vsock://8:2048'
passfd_listener_port = 1027
unified_cgroup_hierarchy = true
tracing = true
policy_file = "/etc/policy.rego"
unknown_key = 3

[endpoints]
allowed = ["CreateContainerRequest"]
""")
    write("FuzzConfigTOML", "hotplug_timeout = 9\nserver_addr = \"unix:///run/kata/agent.sock\"\n")
    write("FuzzConfigTOML", 'dev_mode = "yes"\nlog_level = "loud"\nhotplug_timeout = 0\nlog_vport = -5\n'
                            'container_pipe_size = -1\nserver_addr = "nowhere"\n')
    write("FuzzConfigTOML", "[a.b]\nc = [1, 2.5, 1979-05-27T07:32:00Z, \"\"\"multi\nline\"\"\", 'lit']\n"
                            "d = { e = { f = true } }\n[[g]]\nh = 0x7fffffffffffffff\n")


def serial_splitter():
    # The first byte of each input is the fuzzer's control byte (read sizes, resets).
    check = grpc_call(1, "/grpc.health.v1.Health/Check", b"")
    http2 = (PREFACE + h2_frame(4, 0, 0, b"") + h2_frame(4, 1, 0, b"")
             + h2_frame(8, 0, 0, struct.pack(">I", 65535)) + check)
    ttrpc = ttrpc_frame(1, 1, ttrpc_request("grpc.Health", "Check", timeout=1_000_000_000))
    ttrpc2 = ttrpc_frame(3, 1, ttrpc_request("grpc.AgentService", "GetGuestDetails", field(1, 1)))
    write("FuzzSerialSplitter", b"\x07" + http2)
    write("FuzzSerialSplitter", b"\x3f" + http2 + http2)
    write("FuzzSerialSplitter", b"\x01" + ttrpc + ttrpc2 + ttrpc)
    write("FuzzSerialSplitter", b"\x10" + http2 + ttrpc + ttrpc2)
    write("FuzzSerialSplitter", b"\x85" + b"garbage from a dead connection" + ttrpc + http2 + PREFACE[:10])
    write("FuzzSerialSplitter", b"\x45" + http2 + h2_frame(7, 0, 0, struct.pack(">II", 1, 0)) + http2)


def ttrpc():
    # First byte: message limit (high bit: limit = low 7 bits) and read size.
    check = ttrpc_frame(1, 1, ttrpc_request("grpc.Health", "Check", timeout=5_000_000_000,
                                            metadata=[("x-trace", "1")]))
    details = ttrpc_frame(3, 1, ttrpc_request("grpc.AgentService", "GetGuestDetails", field(1, 1)))
    ok = ttrpc_frame(1, 2, ttrpc_response(payload=field(1, 1)))
    err = ttrpc_frame(3, 2, ttrpc_response(code=3, message="invalid argument: container_id"))
    data = ttrpc_frame(5, 3, b"stdin bytes", flags=0x2)
    closed = ttrpc_frame(5, 3, b"", flags=0x1 | 0x4)
    write("FuzzTTRPC", b"\x0f" + check)
    write("FuzzTTRPC", b"\x03" + check + details)
    write("FuzzTTRPC", b"\x0a" + ok + err)
    write("FuzzTTRPC", b"\x05" + data + closed)
    write("FuzzTTRPC", b"\x90" + check + details + check[:7])
    write("FuzzTTRPC", b"\x01" + struct.pack(">IIBB", 1 << 24, 1, 1, 0))


def mount_options():
    for text in [
        "rw\nnosuid\nnodev\nsize=64m",
        "ro,bind,rprivate",
        "rbind\nrslave\nnoexec\nrelatime\nmode=0755",
        "pagesize=2M\nsize=4194304\nfsgid=1000",
        "pagesize=1GB,size=2G",
        "lowerdir=/a:/b,upperdir=/c,workdir=/d\nremount\nro",
        "36 35 98:0 /mnt1 /mnt\\040with\\040space rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n"
        "37 35 0:5 / /run/kata-containers/shared/containers/ rw - virtiofs kataShared rw",
        "defaults\nnolazytime\nstrictatime\nfsgid=4294967294\nsize=18446744073709551615",
    ]:
        write("FuzzMountOptions", text)


def seccomp():
    base = {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["read", "write", "exit_group", "futex", "mmap"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            ]}
    write("FuzzSeccomp", json.dumps(base, indent=1))
    write("FuzzSeccomp", json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                                     "syscalls": [{"names": ["chmod", "fchmod"], "action": "SCMP_ACT_KILL_PROCESS"},
                                                  {"names": ["ptrace"], "action": "SCMP_ACT_TRACE", "errnoRet": 7},
                                                  {"names": ["getpid"], "action": "SCMP_ACT_LOG"}]}))
    write("FuzzSeccomp", json.dumps({"defaultAction": "SCMP_ACT_KILL", "architectures": ["SCMP_ARCH_AARCH64"],
                                     "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
                                     "syscalls": [{"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [
                                         {"index": 0, "value": 1, "op": "SCMP_CMP_NE"},
                                         {"index": 5, "value": 18446744073709551615, "op": "SCMP_CMP_GE"}]}]}))
    write("FuzzSeccomp", json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["openat"], "action": "SCMP_ACT_NOTIFY"}], "listenerPath": "/run/seccomp.sock"}))


def cpio(osbuilder):
    with tempfile.TemporaryDirectory() as tmp:
        rootfs = os.path.join(tmp, "rootfs")
        os.makedirs(os.path.join(rootfs, "sbin"))
        os.makedirs(os.path.join(rootfs, "etc", "modules-load.d"))
        with open(os.path.join(rootfs, "sbin", "init"), "w") as f:
            f.write("#!/bin/sh\nexec /usr/bin/kata-agent\n")
        os.chmod(os.path.join(rootfs, "sbin", "init"), 0o755)
        with open(os.path.join(rootfs, "etc", "modules-load.d", "kata.conf"), "w") as f:
            f.write("virtio_blk\n")
        os.symlink("sbin/init", os.path.join(rootfs, "init"))
        out = os.path.join(tmp, "initrd")
        subprocess.run([osbuilder, "initrd", "--rootfs", rootfs, "--output", out, "--compression", "none",
                        "--source-date-epoch", "0", "--quiet"], check=True)
        with open(out, "rb") as f:
            write("FuzzCpio", f.read())
        # The smallest archives: the trailer alone, and one empty file.
        header = lambda name, size=0, mode=0o100644: (
            ("070701" + "".join("%08x" % v for v in [1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name) + 1, 0])).encode()
            + name.encode() + b"\0")
        pad = lambda b: b + b"\0" * ((4 - len(b) % 4) % 4)
        trailer = pad(header("TRAILER!!!", mode=0))
        write("FuzzCpio", trailer)
        write("FuzzCpio", pad(header("a", 3)) + pad(b"abc") + trailer)


def templates():
    for name in sorted(os.listdir(os.path.join(ROOT, "rootfs-templates"))):
        path = os.path.join(ROOT, "rootfs-templates", name, "template.conf")
        if os.path.exists(path):
            with open(path, "rb") as f:
                write("FuzzTemplate", f.read(), name)


def main():
    osbuilder = os.environ.get("OSBUILDER_BIN", os.path.join(ROOT, ".build", "debug", "osbuilder"))
    kernel_cmdline()
    config_toml()
    serial_splitter()
    ttrpc()
    mount_options()
    seccomp()
    cpio(osbuilder)
    templates()


if __name__ == "__main__":
    sys.exit(main())
