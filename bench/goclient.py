"""containerd/ttrpc's Go client (Tests/interop/ttrpc-go) for the bench: built once with
Debian's Go in GOPATH mode (golang-github-containerd-ttrpc-dev, no network) into bench/cache,
keyed by the hash of its sources and protos. None when Go is not installed."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SOURCES = os.path.join(ROOT, "Tests", "interop", "ttrpc-go")
PROTOS = os.path.join(ROOT, "protos")
PROTO_FILES = ["agent.proto", "health.proto", "grpc_health_v1.proto"]


def build(cache: str) -> Optional[tuple[str, str]]:
    """(binary, descriptor set), or None when go or protoc is missing."""
    go, protoc = shutil.which("go"), shutil.which("protoc")
    if not go or not protoc:
        return None
    sources = sorted(f for f in os.listdir(SOURCES) if f.endswith(".go"))
    digest = hashlib.sha256()
    for name in sources:
        with open(os.path.join(SOURCES, name), "rb") as f:
            digest.update(f.read())
    for name in PROTO_FILES:
        with open(os.path.join(PROTOS, name), "rb") as f:
            digest.update(f.read())
    out = os.path.join(cache, f"ttrpc-go-{digest.hexdigest()[:12]}")
    binary, descriptors = os.path.join(out, "ttrpc-interop"), os.path.join(out, "protos.pb")
    if os.path.isfile(binary) and os.path.isfile(descriptors):
        return binary, descriptors
    os.makedirs(out, exist_ok=True)
    subprocess.run([protoc, f"-I{PROTOS}", f"--descriptor_set_out={descriptors}", "--include_imports", *PROTO_FILES],
                   check=True, capture_output=True, timeout=120)
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOPROXY="off",
               GOCACHE=os.path.join(cache, "gocache"))
    env.pop("GOFLAGS", None)
    proc = subprocess.run([go, "build", "-o", binary + ".partial", *(os.path.join(SOURCES, s) for s in sources)],
                          env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"go build of {SOURCES} failed: {proc.stderr.strip()}")
    os.replace(binary + ".partial", binary)
    return binary, descriptors


def run(built: tuple[str, str], address: str, steps: list[dict], timeout: float = 900) -> list[dict]:
    """One Go ttrpc connection running `steps`; one result per step."""
    binary, descriptors = built
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as script:
        script.write("\n".join(json.dumps(s) for s in steps) + "\n")
        script.flush()
        proc = subprocess.run([binary, "-addr", address, "-descriptors", descriptors, "-script", script.name],
                              capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"ttrpc-interop failed ({proc.returncode}): {proc.stderr.strip()}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
