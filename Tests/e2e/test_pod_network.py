"""Pod networking in a VM, end to end: a virtio-net NIC on QEMU user networking made safe
(`restrict=on`: the guest reaches nothing but one guestfwd that QEMU connects to an HTTP
server on the host's 127.0.0.1), configured by UpdateInterface (the guest MAC) and
UpdateRoutes (a connected route to the user-net gateway, then the default route via it), a
container that fetches a page through it, and GetIPTables/SetIPTables adding a rule that
blocks that fetch.

iptables in the guest: the busybox template has none (busybox has no iptables applet), so the
test carries the host's xtables-legacy-multi (Debian's iptables package, `make deps`) as
iptables-save and iptables-restore with the shared libraries ldd names and the one extension
the rule needs (libxt_standard.so). Legacy rather than nft: it needs only x_tables, ip_tables
and iptable_filter, which the Debian cloud kernel has as modules (carried and loaded at boot)
and the kata kernel builds in. Images built from the debian template get iptables with
`--extra-pkgs iptables` (EXTRA_PKGS) instead.

One guest for the class; steps run in order, each reporting on its own.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import threading

import pytest

import agentclient as ac
import guests
import scenario as sc
from agentclient import agent_pb2 as pb
from conftest import require_root
from vm import BootSpec

GUEST_MAC = "02:5c:00:00:00:0f"
GUEST_IP = "10.0.2.15"
GATEWAY = "10.0.2.2"
# A guestfwd address: QEMU answers for it and connects each TCP connection to the host server.
SERVER_IP = "10.0.2.100"
PAGE = b"hello from the host's loopback\n"
CID = "net1"

NET_MODULES = ["failover", "net_failover", "virtio_net", "x_tables", "ip_tables", "iptable_filter"]
XTABLES = "/usr/sbin/xtables-legacy-multi"
XTABLES_EXTENSIONS = "/usr/lib/x86_64-linux-gnu/xtables"


def _iptables_files() -> tuple:
    """(host, guest) pairs: the multi-call binary under the two names the agent runs, its
    libraries (and loader) at the paths ldd gives, the standard target extension."""
    if not os.access(XTABLES, os.X_OK):
        pytest.skip(f"{XTABLES} missing: install Debian's iptables (make deps)")
    pairs = [(XTABLES, "/usr/sbin/iptables-save"), (XTABLES, "/usr/sbin/iptables-restore")]
    ldd = subprocess.run(["ldd", XTABLES], check=True, capture_output=True, text=True).stdout
    for line in ldd.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0] if parts and parts[0].startswith("/") else ""
        if path.startswith("/"):
            pairs.append((os.path.realpath(path), path))
    pairs.append((f"{XTABLES_EXTENSIONS}/libxt_standard.so", f"{XTABLES_EXTENSIONS}/libxt_standard.so"))
    return tuple(pairs)


class _Page(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).hits += 1
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):  # keep pytest output clean
        pass


class Booted:
    def __init__(self, guest=None, client=None, server=None, error=None):
        self.guest, self.client, self.server, self.error = guest, client, server, error
        self.state: dict[str, object] = {}

    def need(self, key: str) -> None:
        if self.error is not None:
            pytest.fail(f"the guest did not boot to a ready agent: {str(self.error).splitlines()[0]}", pytrace=False)
        if key not in self.state:
            pytest.fail(f"an earlier step did not complete: {key}")

    def call(self, rpc: str, request, timeout: float = 60):
        try:
            return self.client.call(rpc, request, timeout=timeout)
        except ac.RpcFailed as error:
            raise self.guest.fail(str(error)) from error

    def fetch(self, exec_id: str) -> tuple[bool, str, str]:
        """An HTTP GET with busybox nc (Debian's static busybox wget crashes in its static
        glibc resolver path): (a 200 answer came, its body, stderr). QEMU's guestfwd does not
        pass the server's close on to the guest, so nc ends by `timeout` whether or not the
        page came; the answer itself decides."""
        _, out, err = sc.run(self.client, CID, exec_id,
                             f"printf 'GET / HTTP/1.0\\r\\nHost: {SERVER_IP}\\r\\n\\r\\n' | timeout 8 nc {SERVER_IP} 80")
        head, _, body = out.partition("\r\n\r\n")
        return head.startswith("HTTP/1.0 200"), body, err


@pytest.fixture(scope="class")
def booted(kernel, tmp_path_factory):
    require_root("QEMU guests")
    workdir = tmp_path_factory.mktemp("pod-network")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    recipe = guests.GuestRecipe("busybox", extra_modules=tuple(kernel.loadable(NET_MODULES)),
                                extra_files=_iptables_files())
    guest = client = None
    try:
        initrd = guests.build(recipe, kernel)
        # restrict=on: no route to the host or beyond; only the guestfwd below, which QEMU
        # connects to 127.0.0.1. No IPv6, no DHCP use (the agent configures the NIC).
        netdev = (f"user,id=n0,restrict=on,ipv6=off,net=10.0.2.0/24,host={GATEWAY},"
                  f"guestfwd=tcp:{SERVER_IP}:80-tcp:127.0.0.1:{port}")
        spec = guests.initrd_spec(kernel, initrd, "pod-network")
        spec = BootSpec(**{**spec.__dict__, "extra_args": [
            "-netdev", netdev, "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}"]})
        guest, client, _ = guests.boot_agent(spec, workdir, "grpcio")
    except Exception as error:  # noqa: BLE001 - reported by every step
        if guest is not None:
            guest.kill()
        server.shutdown()
        yield Booted(error=error)
        return
    try:
        yield Booted(guest, client, server)
    finally:
        client.close()
        guest.kill()
        server.shutdown()


class TestPodNetwork:
    def test_01_boot(self, booted):
        if booted.error is not None:
            raise booted.error
        booted.state["booted"] = True

    def test_02_update_interface_by_mac(self, booted):
        booted.need("booted")
        request = pb.UpdateInterfaceRequest()
        i = request.interface
        i.device, i.name, i.hwAddr, i.mtu, i.type = "eth0", "eth0", GUEST_MAC, 1500, "virtual"
        address = i.IPAddresses.add()
        address.family, address.address, address.mask = 0, GUEST_IP, "32"
        reply = booted.call("UpdateInterface", request)
        assert reply.name == "eth0", reply
        assert reply.hwAddr.lower() == GUEST_MAC, reply
        assert [(a.address, a.mask) for a in reply.IPAddresses if a.family == 0] == [(GUEST_IP, "32")], reply
        assert reply.raw_flags & 0x1, "the link is up"
        booted.state["interface"] = True

    def test_03_update_routes_connected_first(self, booted):
        booted.need("interface")
        request = pb.UpdateRoutesRequest()
        # The gateway route comes first on purpose: the agent adds the connected one first.
        default = request.routes.Routes.add()
        default.dest, default.gateway, default.device, default.family = "", GATEWAY, "eth0", 0
        connected = request.routes.Routes.add()
        connected.dest, connected.device, connected.scope, connected.family = f"{GATEWAY}/32", "eth0", 253, 0
        reply = booted.call("UpdateRoutes", request)
        got = {(r.dest, r.gateway, r.device) for r in reply.Routes}
        assert ("", GATEWAY, "eth0") in got and (f"{GATEWAY}/32", "", "eth0") in got, reply
        listed = booted.call("ListRoutes", pb.ListRoutesRequest())
        assert {(r.dest, r.gateway) for r in listed.Routes} == {(r.dest, r.gateway) for r in reply.Routes}
        interfaces = booted.call("ListInterfaces", pb.ListInterfacesRequest())
        assert any(i.name == "eth0" and any(a.address == GUEST_IP for a in i.IPAddresses) for i in interfaces.Interfaces)
        booted.state["routes"] = True

    def test_04_container_fetches_a_page_from_the_host_loopback(self, booted):
        booted.need("routes")
        booted.call("CreateSandbox", pb.CreateSandboxRequest(hostname="net", sandbox_id="net-sandbox"))
        sc.create_container(booted.client, CID, [sc.BB, "sh", "-c", sc.INIT_SCRIPT], limits=False)
        booted.call("StartContainer", pb.StartContainerRequest(container_id=CID))
        seen = b""
        while b"\n" not in seen:
            reply = booted.call("ReadStdout", pb.ReadStreamRequest(container_id=CID, exec_id="", len=64))
            if not reply.data:
                break
            seen += reply.data
        assert seen == b"init-started\n", seen
        before = _Page.hits
        ok, body, err = booted.fetch("fetch-1")
        assert ok and body.encode() == PAGE, f"no page: {body!r} {err!r}\n{booted.guest.console_tail()}"
        assert _Page.hits == before + 1, "the page came from the host server"
        booted.state["fetched"] = True

    def test_05_iptables_rule_blocks_the_fetch(self, booted):
        booted.need("fetched")
        # Before any rule the answer may be empty: the kernel instantiates a table in a network
        # namespace only when it is first used, and iptables-save lists instantiated tables.
        saved = booted.call("GetIPTables", pb.GetIPTablesRequest(is_ipv6=False)).data.decode()
        assert saved == "" or "*filter" in saved, saved
        rules = f"*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -d {SERVER_IP}/32 -j DROP\nCOMMIT\n"
        booted.call("SetIPTables", pb.SetIPTablesRequest(is_ipv6=False, data=rules.encode()))
        saved = booted.call("GetIPTables", pb.GetIPTablesRequest(is_ipv6=False)).data.decode()
        assert "*filter" in saved and ":OUTPUT ACCEPT" in saved, saved
        assert f"-A OUTPUT -d {SERVER_IP}/32 -j DROP" in saved, saved
        before = _Page.hits
        ok, body, err = booted.fetch("fetch-2")
        assert not ok and body == "", f"the fetch should be blocked: {body!r} {err!r}"
        assert _Page.hits == before, "nothing reached the host server"

        # A bad rule set is refused with iptables-restore's own message; the guest has no ip6tables.
        with pytest.raises(ac.RpcFailed) as bad:
            booted.client.call("SetIPTables", pb.SetIPTablesRequest(data=b"*filter\n-A NOPE -j DROP\nCOMMIT\n"))
        assert bad.value.code == "INTERNAL" and "iptables-restore --wait 5 exited" in str(bad.value), bad.value
        with pytest.raises(ac.RpcFailed) as missing:
            booted.client.call("GetIPTables", pb.GetIPTablesRequest(is_ipv6=True))
        assert missing.value.code == "FAILED_PRECONDITION" and "ip6tables-save" in str(missing.value), missing.value
