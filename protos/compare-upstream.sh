#!/usr/bin/env bash
# Proves our protos are wire-identical to upstream Kata's.
#
#   protos/compare-upstream.sh UPSTREAM_PROTOS_DIR
#
# UPSTREAM_PROTOS_DIR is a checkout's src/libs/protocols/protos (never committed here).
# Both sets are compiled to descriptor sets by protoc and compared after normalisation:
# proto packages, imports, services, RPC names and streaming, message and enum names,
# field names, numbers, labels, types, oneofs and enum values. Options (go_package),
# comments, source info and declaration order are ignored. Exit 0 when identical.
# Needs protoc and python3-protobuf (Debian's, hence /usr/bin/python3; override with PYTHON).
set -euo pipefail

upstream=${1:?usage: $0 UPSTREAM_PROTOS_DIR}
ours=$(cd "$(dirname "$0")" && pwd)
files=(agent.proto health.proto oci.proto csi.proto types.proto)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for f in "${files[@]}"; do
    [[ -f $upstream/$f ]] || { echo "missing $upstream/$f" >&2; exit 2; }
done

# Upstream ships its own google/protobuf copies; ours come from protoc's include dir.
protoc -I "$upstream" -I /usr/include --include_imports \
    --descriptor_set_out="$tmp/upstream.pb" "${files[@]/#/$upstream/}"
protoc -I "$ours" -I /usr/include --include_imports \
    --descriptor_set_out="$tmp/ours.pb" "${files[@]/#/$ours/}"

"${PYTHON:-/usr/bin/python3}" - "$tmp/upstream.pb" "$tmp/ours.pb" "${files[@]}" <<'PY'
import sys
from google.protobuf import descriptor_pb2

def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    return {fd.name: fd for fd in fds.file}

def field(f, oneofs):
    oneof = oneofs[f.oneof_index] if f.HasField("oneof_index") else None
    return (f.number, f.name, f.json_name, f.label, f.type, f.type_name,
            oneof, f.proto3_optional)

def enum(e):
    return (e.name, sorted((v.number, v.name) for v in e.value))

def message(m):
    oneofs = [o.name for o in m.oneof_decl]
    return (m.name,
            sorted(field(f, oneofs) for f in m.field),
            sorted(message(n) for n in m.nested_type),
            sorted(enum(e) for e in m.enum_type),
            sorted(oneofs),
            # map<> entries are nested types; their map_entry flag is part of the type.
            m.options.map_entry)

def service(s):
    return (s.name, sorted((r.name, r.input_type, r.output_type,
                            r.client_streaming, r.server_streaming) for r in s.method))

def canon(fd):
    return {
        "package": fd.package,
        "syntax": fd.syntax,
        "imports": sorted(fd.dependency),
        "messages": sorted(message(m) for m in fd.message_type),
        "enums": sorted(enum(e) for e in fd.enum_type),
        "services": sorted(service(s) for s in fd.service),
    }

def diff(path, a, b, out):
    if type(a) != type(b):
        out.append(f"{path}: upstream {a!r} ours {b!r}")
    elif isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            diff(f"{path}.{k}", a.get(k), b.get(k), out)
    elif isinstance(a, (list, tuple)):
        if a != b:
            if len(a) != len(b) or not all(isinstance(x, (list, tuple)) for x in a):
                out.append(f"{path}: upstream {a!r}\n{' ' * len(path)}  ours     {b!r}")
            else:
                for i, (x, y) in enumerate(zip(a, b)):
                    diff(f"{path}[{x[0] if x else i}]", x, y, out)
    elif a != b:
        out.append(f"{path}: upstream {a!r} ours {b!r}")

upstream, ours, names = load(sys.argv[1]), load(sys.argv[2]), sys.argv[3:]
problems, counts = [], {"services": 0, "rpcs": 0, "messages": 0, "fields": 0, "enums": 0}

def count(msgs):
    for m in msgs:
        counts["messages"] += 1
        counts["fields"] += len(m.field)
        counts["enums"] += len(m.enum_type)
        count(m.nested_type)

for name in names:
    diff(name, canon(upstream[name]), canon(ours[name]), problems)
    fd = ours[name]
    counts["services"] += len(fd.service)
    counts["rpcs"] += sum(len(s.method) for s in fd.service)
    counts["enums"] += len(fd.enum_type)
    count(fd.message_type)

if problems:
    print("DIFFERENT from upstream:")
    print("\n".join(problems))
    sys.exit(1)
print("identical to upstream: " + ", ".join(f"{v} {k}" for k, v in counts.items())
      + " (" + " ".join(names) + ")")
PY
