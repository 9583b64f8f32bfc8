import Glibc
import LinuxKit
import Logging

/// UpdateInterface: configures the guest NIC the runtime describes, as upstream's
/// update_interface does: find the link (by PCI path, else MAC, else name with the MAC then
/// set), add the addresses (replacing equal ones, keeping the rest), set MTU, name (swapping
/// with a link that holds it), ARP from raw_flags, and bring it up. Validated first; a failure
/// part-way undoes the earlier steps.
struct InterfaceUpdate {
    let netlink: any RouteNetlink
    let deviceWaiter: any NetworkDeviceWaiter
    let deviceTimeout: Duration
    let logger: Logger

    /// The request after validation.
    struct Plan {
        var name: String
        var hardwareAddress: HardwareAddress?
        var mtu: UInt32?
        var addresses: [NetlinkAddress]
        var pciPath: String?
        var noARP: Bool
    }

    static func validate(_ request: PodInterface) throws(SandboxError) -> Plan {
        try NetworkValidation.linkName(request.name, field: "interface.name")
        let mac = request.hardwareAddress.isEmpty ? nil : try NetworkValidation.hardwareAddress(request.hardwareAddress, field: "interface.hwAddr")
        let mtu = try NetworkValidation.mtu(request.mtu, field: "interface.mtu")
        var addresses: [NetlinkAddress] = []
        for (position, entry) in request.addresses.enumerated() {
            let field = "interface.IPAddresses[\(position)]"
            let family = try NetworkValidation.family(entry.family, field: field + ".family")
            let address = try NetworkValidation.address(entry.address, family: family, field: field + ".address")
            let prefix = try NetworkValidation.prefix(entry.mask, family: family, field: field + ".mask")
            addresses.append(NetlinkAddress(index: 0, address: address, prefixLength: prefix))
        }
        if !request.devicePath.isEmpty {
            try NetworkValidation.pciPath(request.devicePath, field: "interface.devicePath")
        }
        let pci = request.devicePath.isEmpty ? nil : request.devicePath
        return Plan(name: request.name, hardwareAddress: mac, mtu: mtu, addresses: addresses, pciPath: pci,
                    noARP: request.rawFlags & RTNL.interfaceNoARP != 0)
    }

    func apply(_ request: PodInterface) async throws(SandboxError) -> PodInterface {
        let plan = try Self.validate(request)
        let netlink = self.netlink
        var pciName: String?
        if let path = plan.pciPath {
            pciName = try await deviceWaiter.interfaceName(pciPath: path, timeout: deviceTimeout)
        }
        let links = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        let link = try Self.find(plan, pciName: pciName, in: links)
        let existing = try networkDump("addresses") { () throws(SyscallError) in try netlink.addresses(family: nil) }
            .filter { $0.index == link.index }

        var rollback = NetworkRollback()
        let index = link.index
        let wasUp = link.flags & RTNL.interfaceUp != 0
        let needsMAC = plan.hardwareAddress.map { $0 != link.hardwareAddress } ?? false
        let renaming = link.name != plan.name
        let holder = renaming ? links.first { $0.name == plan.name && $0.index != index } : nil

        func step(_ context: String, undo: String, _ body: () throws(SyscallError) -> Void,
                  _ undoBody: @escaping () throws(SyscallError) -> Void) throws(SandboxError) {
            do {
                try body()
            } catch {
                throw rollback.fail("UpdateInterface \(plan.name): \(context)", error, logger: logger)
            }
            rollback.record(undo, undoBody)
        }

        // Renaming needs the link down, and so does a MAC change on most drivers. Down comes
        // before the addresses: going down drops the link's IPv6 addresses.
        if (renaming || needsMAC) && wasUp {
            try step("set \(link.name) down", undo: "\(link.name) up again", { () throws(SyscallError) in
                try netlink.setLink(index: index, LinkChange(up: false))
            }, { () throws(SyscallError) in try netlink.setLink(index: index, LinkChange(up: true)) })
        }
        if needsMAC, let mac = plan.hardwareAddress {
            let old = link.hardwareAddress
            try step("set the MAC of \(link.name) to \(mac)", undo: "MAC of \(link.name) back to \(old)", { () throws(SyscallError) in
                try netlink.setLink(index: index, LinkChange(hardwareAddress: mac))
            }, { () throws(SyscallError) in try netlink.setLink(index: index, LinkChange(hardwareAddress: old)) })
        }
        var temporaryName: String?
        if let holder {
            // The link holding the name takes a temporary one now and this link's old name at the end.
            let temporary = Self.temporaryName(for: holder, taken: Set(links.map(\.name)))
            temporaryName = temporary
            if holder.flags & RTNL.interfaceUp != 0 {
                try step("set \(holder.name) down to rename it", undo: "\(holder.name) up again", { () throws(SyscallError) in
                    try netlink.setLink(index: holder.index, LinkChange(up: false))
                }, { () throws(SyscallError) in try netlink.setLink(index: holder.index, LinkChange(up: true)) })
            }
            try step("rename \(holder.name) (holding the name) to \(temporary)", undo: "\(temporary) back to \(holder.name)", { () throws(SyscallError) in
                try netlink.setLink(index: holder.index, LinkChange(name: temporary))
            }, { () throws(SyscallError) in try netlink.setLink(index: holder.index, LinkChange(name: holder.name)) })
        }
        for planned in plan.addresses {
            let address = NetlinkAddress(index: index, address: planned.address, prefixLength: planned.prefixLength)
            let previous = existing.first { $0.address == planned.address }
            let text = "\(planned.address)/\(planned.prefixLength)"
            do {
                try netlink.addAddress(address, replace: true)
            } catch {
                if planned.address.family == .inet6 && (error.errno == EACCES || error.errno == EAFNOSUPPORT) {
                    // As upstream: a guest with IPv6 disabled gets its IPv4 configuration.
                    logger.warning("IPv6 is disabled in the guest; address skipped", metadata: ["address": "\(text)", "link": "\(plan.name)"])
                    continue
                }
                throw rollback.fail("UpdateInterface \(plan.name): add address \(text)", error, logger: logger)
            }
            if let previous {
                rollback.record("address \(text) back to /\(previous.prefixLength)") { () throws(SyscallError) in
                    // IPv4 keys an address by address and prefix: a /16 over a /24 was added
                    // beside it, not in its place, so it goes before the old one is put back.
                    do throws(SyscallError) {
                        try netlink.deleteAddress(address)
                    } catch {
                        if error.errno != EADDRNOTAVAIL { throw error }
                    }
                    try netlink.addAddress(previous, replace: true)
                }
            } else {
                rollback.record("address \(text) removed") { () throws(SyscallError) in try netlink.deleteAddress(address) }
            }
        }
        let final = LinkChange(name: renaming ? plan.name : nil, mtu: plan.mtu, up: true, noARP: plan.noARP)
        let restore = LinkChange(name: renaming ? link.name : nil, mtu: plan.mtu == nil ? nil : link.mtu, up: wasUp,
                                 noARP: link.flags & RTNL.interfaceNoARP != 0)
        try step("set \(link.name) \(renaming ? "name \(plan.name) " : "")\(plan.mtu.map { "mtu \($0) " } ?? "")\(plan.noARP ? "arp off" : "arp on") up",
                 undo: "\(plan.name) back to its name, MTU, ARP and state", { () throws(SyscallError) in
            try netlink.setLink(index: index, final)
        }, { () throws(SyscallError) in
            // Down first: a running link cannot be renamed.
            try netlink.setLink(index: index, LinkChange(up: false))
            try netlink.setLink(index: index, restore)
        })
        if let holder, let temporaryName {
            try step("rename \(temporaryName) to \(link.name) (completing the swap)", undo: "\(link.name) back to \(temporaryName)", { () throws(SyscallError) in
                try netlink.setLink(index: holder.index, LinkChange(name: link.name))
            }, { () throws(SyscallError) in try netlink.setLink(index: holder.index, LinkChange(name: temporaryName)) })
            if holder.flags & RTNL.interfaceUp != 0 {
                try step("set \(link.name) (formerly \(holder.name)) up again", undo: "", { () throws(SyscallError) in
                    try netlink.setLink(index: holder.index, LinkChange(up: true))
                }, { () throws(SyscallError) in })
            }
        }
        logger.info("interface updated", metadata: [
            "link": "\(plan.name)", "index": "\(index)", "renamed-from": "\(renaming ? link.name : "")",
            "swapped-with": "\(holder?.name ?? "")", "addresses": "\(plan.addresses.count)",
        ])

        let after = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        let addresses = try networkDump("addresses") { () throws(SyscallError) in try netlink.addresses(family: nil) }
        guard let updated = after.first(where: { $0.index == index }) else {
            throw SandboxError(.system, "UpdateInterface \(plan.name): link \(index) vanished after its update", errno: ENODEV)
        }
        var answer = NetworkListing.interface(updated, addresses: addresses)
        answer.device = request.device
        answer.devicePath = request.devicePath
        return answer
    }

    /// The link to configure. While it is missing the error says "Link not found": the only
    /// text the Go runtime retries on.
    static func find(_ plan: Plan, pciName: String?, in links: [NetlinkLink]) throws(SandboxError) -> NetlinkLink {
        if let pciName {
            if let link = links.first(where: { $0.name == pciName }) { return link }
            throw SandboxError(.system, "Link not found (interface \(pciName) at PCI path \(plan.pciPath ?? "") has no link)", errno: ENODEV)
        }
        if let mac = plan.hardwareAddress, let link = links.first(where: { $0.hardwareAddress == mac }) { return link }
        if let link = links.first(where: { $0.name == plan.name }) { return link }
        throw SandboxError(.system, "Link not found (no link with hwAddr \(plan.hardwareAddress?.description ?? "(none)") or name \(plan.name))", errno: ENODEV)
    }

    /// A free name for the link that must give its name up ("kata_tmp<index>", suffixed if taken).
    static func temporaryName(for link: NetlinkLink, taken: Set<String>) -> String {
        let base = String("kt\(link.index)".prefix(NetworkValidation.maximumNameLength - 3))
        var candidate = base + "_sw"
        var counter = 0
        while taken.contains(candidate) {
            counter += 1
            candidate = String((base + "_\(counter)").prefix(NetworkValidation.maximumNameLength))
        }
        return candidate
    }
}
