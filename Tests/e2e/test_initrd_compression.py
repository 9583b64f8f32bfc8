"""osbuilder's compressed initrds boot with the agent as init: gzip (osbuilder's default, what
Kata ships, enabled in every Kata kernel) and zstd (smaller; the kata kernel enables RD_ZSTD for
it). The other VM tests boot uncompressed initrds, which build and unpack faster under TCG."""

from __future__ import annotations

import pytest

import guests
from conftest import require_root

MAGIC = {"gzip": b"\x1f\x8b", "zstd": b"\x28\xb5\x2f\xfd"}


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_compressed_initrd_boots_to_a_served_check(kernel, tmp_path, compression):
    require_root("QEMU guests and initrd device nodes")
    initrd = guests.build(guests.GuestRecipe("minimal", compression=compression), kernel)
    with open(initrd, "rb") as f:
        assert f.read(4).startswith(MAGIC[compression]), f"{initrd} is not {compression}"
    spec = guests.initrd_spec(kernel, initrd, f"initrd-{compression}")
    guest, client, _ = guests.boot_agent(spec, tmp_path, "ttrpc")
    try:
        # boot_agent returned: a Health.Check was answered over ttrpc by the agent as PID 1.
        console = guest.console_text()
        assert "Initramfs unpacking failed" not in console, guest.console_tail()
        assert "initramfs root bound over itself" in console, guest.console_tail()
    finally:
        client.close()
        guest.kill()
