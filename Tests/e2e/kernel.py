"""The guest kernel every VM test boots, chosen here and nowhere else.

Two kernels, both kept in the build cache (.cache/):
- "kata" (the default): built from Debian's linux-source by osbuilder/kernel/build-kernel.sh
  with everything a guest needs built in (`make kernel-build`); its guests carry no modules and
  disk images boot without a first stage.
- "debian": Debian's cloud kernel (fetch-kernel.sh), which builds virtio, vsock, nvdimm... as
  modules, so guests carry and load them.
KATA_E2E_KERNEL=debian|kata picks the one `fetch()` (the `kernel` fixture) returns;
`fetch_debian()` (the `debian_kernel` fixture) is for the tests of the module-loading path.
"""

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
    """A kernel in the cache: the image QEMU boots plus lib/modules/<version> (for the kata
    kernel only its module index: modules.builtin and an empty modules.dep)."""

    root: pathlib.Path
    flavour: str = "debian"                 # "debian" | "kata"

    @property
    def version(self) -> str:
        if self.flavour == "kata":
            return _build_info(self.root)["KERNEL_RELEASE"]
        return (self.root / "VERSION").read_text().strip()

    @property
    def vmlinuz(self) -> pathlib.Path:
        """What QEMU's -kernel gets. The kata kernel boots its uncompressed vmlinux through the
        PVH entry point (no decompression in the guest), as upstream Kata's QEMU does."""
        if self.flavour == "kata":
            return self.root / "vmlinux.container"
        return self.root / "vmlinuz"

    @property
    def builtin_drivers(self) -> bool:
        """Everything a guest needs is built in: no module to carry or load, and a disk image's
        root mounts without a first stage."""
        return self.flavour == "kata"

    @property
    def build_info(self) -> dict[str, str]:
        """build-kernel.sh's record (version, build seconds...); empty for the Debian kernel."""
        return _build_info(self.root) if self.flavour == "kata" else {}

    def file_sizes(self) -> dict[str, int]:
        """Bytes of what a host ships for this kernel: the images and, for the Debian kernel,
        its modules (a guest carries some of them)."""
        if self.flavour == "kata":
            return {"vmlinux": (self.root / "vmlinux.container").resolve().stat().st_size,
                    "bzImage": (self.root / "vmlinuz.container").resolve().stat().st_size}
        modules = sum(p.stat().st_size for p in self.modules_dir.rglob("*.ko*"))
        return {"bzImage": self.vmlinuz.stat().st_size, "modules": modules}

    def loadable(self, names: list[str]) -> list[str]:
        """The modules among `names` this kernel does not build in."""
        return [n for n in names if not self.is_builtin(n)]

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

        for name in self.loadable(names):
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


def selected_flavour() -> str:
    flavour = os.environ.get("KATA_E2E_KERNEL", "kata")
    if flavour not in ("kata", "debian"):
        raise ValueError(f"KATA_E2E_KERNEL={flavour}: expected kata or debian")
    return flavour


def fetch() -> Kernel:
    """The kernel the VM tests boot (KATA_E2E_KERNEL, default kata), built or fetched once."""
    return fetch_kata() if selected_flavour() == "kata" else fetch_debian()


@functools.lru_cache(maxsize=1)
def fetch_debian() -> Kernel:
    """Run the idempotent fetch script once per process and return Debian's cloud kernel."""
    env = dict(os.environ)
    proc = subprocess.run(
        [str(HERE / "fetch-kernel.sh")], capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"fetch-kernel.sh failed ({proc.returncode}):\n{proc.stderr}")
    root = pathlib.Path(proc.stdout.strip().splitlines()[-1])
    return Kernel(root, "debian")


# Where `make kernel-build` and the tests keep built kernels, one directory per input digest.
KATA_KERNEL_CACHE = pathlib.Path(os.environ.get("KATA_KERNEL_CACHE_DIR", REPO / ".cache" / "guest-kernel"))
BUILD_KERNEL = REPO / "osbuilder" / "kernel" / "build-kernel.sh"


@functools.lru_cache(maxsize=1)
def fetch_kata() -> Kernel:
    """The kata guest kernel: reused when the cache holds a build of the same inputs, else
    built now (several minutes on 2 cores; `make kernel-build` does it ahead)."""
    proc = subprocess.run([str(BUILD_KERNEL), "cached", str(KATA_KERNEL_CACHE)],
                          capture_output=True, text=True, timeout=3 * 3600)
    if proc.returncode != 0:
        raise RuntimeError(f"build-kernel.sh cached failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return Kernel(pathlib.Path(proc.stdout.strip().splitlines()[-1]), "kata")


def _build_info(root: pathlib.Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in (root / "build-info").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            info[key] = value
    return info
