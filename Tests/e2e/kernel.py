"""The guest kernel: fetched into the build cache by fetch-kernel.sh, plus its module graph."""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Modules the Debian cloud kernel needs for the agent's channels, dependencies first.
VIRTIO_SERIAL_MODULES = [
    "virtio_ring", "virtio", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
    "virtio_console",
]
VSOCK_MODULES = [
    "vsock", "vmw_vsock_virtio_transport_common", "vmw_vsock_virtio_transport", "vsock_loopback",
]
VIRTIO_BLK_MODULES = ["virtio_blk"]
NVDIMM_MODULES = ["libnvdimm", "nd_btt", "nd_pmem", "nfit", "dax_pmem"]


@dataclasses.dataclass(frozen=True)
class Kernel:
    """A kernel unpacked in the cache: vmlinuz plus lib/modules/<version>."""

    root: pathlib.Path

    @property
    def version(self) -> str:
        return (self.root / "VERSION").read_text().strip()

    @property
    def vmlinuz(self) -> pathlib.Path:
        return self.root / "vmlinuz"

    @property
    def modules_root(self) -> pathlib.Path:
        """The directory holding lib/modules/<version> (what --kernel-modules-dir wants)."""
        return self.root

    @property
    def modules_dir(self) -> pathlib.Path:
        return self.root / "lib" / "modules" / self.version

    def _deps(self) -> dict[str, tuple[str, list[str]]]:
        """name -> (relative path, relative paths of its direct dependencies)."""
        return _parse_modules_dep(self.modules_dir / "modules.dep")

    def module_path(self, name: str) -> pathlib.Path:
        deps = self._deps()
        key = name.replace("-", "_")
        if key not in deps:
            raise KeyError(f"module {name} not in {self.modules_dir}/modules.dep (built in or absent)")
        return self.modules_dir / deps[key][0]

    def is_builtin(self, name: str) -> bool:
        builtin = (self.modules_dir / "modules.builtin").read_text()
        return f"/{name.replace('_', '-')}.ko" in builtin or f"/{name}.ko" in builtin

    def load_order(self, names: list[str]) -> list[str]:
        """Module names in an order where each comes after its dependencies."""
        deps = self._deps()
        by_path = {path: mod for mod, (path, _) in deps.items()}
        order: list[str] = []

        def visit(mod: str, stack: tuple[str, ...]) -> None:
            if mod in order:
                return
            if mod in stack:
                raise ValueError(f"module dependency cycle: {' -> '.join(stack + (mod,))}")
            if mod not in deps:
                raise KeyError(f"module {mod} not in {self.modules_dir}/modules.dep")
            for dep_path in deps[mod][1]:
                visit(by_path[dep_path], stack + (mod,))
            order.append(mod)

        for name in names:
            visit(name.replace("-", "_"), ())
        return order


@functools.lru_cache(maxsize=4)
def _parse_modules_dep(path: pathlib.Path) -> dict[str, tuple[str, list[str]]]:
    result: dict[str, tuple[str, list[str]]] = {}
    for line in path.read_text().splitlines():
        if ":" not in line:
            continue
        mod_path, _, rest = line.partition(":")
        name = os.path.basename(mod_path).split(".ko")[0].replace("-", "_")
        result[name] = (mod_path, rest.split())
    return result


@functools.lru_cache(maxsize=1)
def fetch() -> Kernel:
    """Run the idempotent fetch script once per process and return the cached kernel."""
    env = dict(os.environ)
    proc = subprocess.run(
        [str(HERE / "fetch-kernel.sh")], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"fetch-kernel.sh failed ({proc.returncode}):\n{proc.stderr}")
    root = pathlib.Path(proc.stdout.strip().splitlines()[-1])
    return Kernel(root)
