"""A busybox OCI bundle (from `runc spec`) and its conversion to the agent's protobuf Spec."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

BUSYBOX = "/bin/busybox"


def busybox_rootfs(directory: str) -> str:
    """A rootfs holding Debian's static busybox and its applet links; reused when present."""
    rootfs = os.path.join(directory, "rootfs")
    marker = os.path.join(rootfs, "bin", "busybox")
    if os.path.isfile(marker):
        return rootfs
    if not os.path.isfile(BUSYBOX):
        raise RuntimeError(f"{BUSYBOX} missing: apt-get install busybox-static")
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy2(BUSYBOX, marker)
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(rootfs, "bin", applet)
        if applet != "busybox" and not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    return rootfs


def runc_spec(bundle: str, args: list[str]) -> dict:
    """`runc spec` in `bundle`, with our args, no terminal, and an absolute root path."""
    os.makedirs(bundle, exist_ok=True)
    config = os.path.join(bundle, "config.json")
    if os.path.exists(config):
        os.unlink(config)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    with open(config) as f:
        spec = json.load(f)
    spec["process"]["args"] = args
    spec["process"]["terminal"] = False
    spec["root"] = {"path": os.path.abspath(os.path.join(bundle, "rootfs")), "readonly": True}
    with open(config, "w") as f:
        json.dump(spec, f, indent=2)
    return spec


def spec_to_proto(spec: dict, message):
    """Fills protobuf `message` from runtime-spec JSON by matching field names case-insensitively.

    The agent's oci.proto names fields like the Go structs (`Process`, `OOMScoreAdj`), while
    config.json uses the spec's camelCase; the two differ only in case.
    """
    fields = {f.name.lower(): f for f in message.DESCRIPTOR.fields}
    for key, value in spec.items():
        field = fields.get(key.lower())
        if field is None or value is None:
            continue
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            for k, v in value.items():
                target[k] = v
        elif field.label == field.LABEL_REPEATED:
            for item in value:
                if field.message_type is not None:
                    spec_to_proto(item, target.add())
                else:
                    target.append(item)
        elif field.message_type is not None:
            spec_to_proto(value, target)
        else:
            setattr(message, field.name, value)
    return message
