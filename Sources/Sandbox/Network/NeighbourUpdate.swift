import Glibc
import LinuxKit
import Logging

/// AddARPNeighbors: one neighbour entry per request entry, replacing an equal one; state 0
/// means PERMANENT (as upstream). Validated before the first change; a failure undoes the
/// entries this request already added or replaced.
struct NeighbourUpdate {
    let netlink: any RouteNetlink
    let logger: Logger

    static func validate(_ neighbours: [PodNeighbour], links: [NetlinkLink]) throws(SandboxError) -> [NetlinkNeighbour] {
        var planned: [NetlinkNeighbour] = []
        for (position, request) in neighbours.enumerated() {
            let field = "neighbors[\(position)]"
            guard let destination = request.destination else {
                throw NetworkValidation.invalid(field + ".toIPAddress", "must be set")
            }
            let family = try NetworkValidation.family(destination.family, field: field + ".toIPAddress.family")
            let address = try NetworkValidation.address(destination.address, family: family, field: field + ".toIPAddress.address")
            let lladdr = request.linkLayerAddress.isEmpty
                ? nil : try NetworkValidation.hardwareAddress(request.linkLayerAddress, field: field + ".lladdr")
            // NUD_* states are bits of a byte (INCOMPLETE 0x01 ... PERMANENT 0x80).
            guard let state = UInt8(exactly: request.state) else {
                throw NetworkValidation.invalid(field + ".state", "\(request.state) is not a neighbour state (0 for PERMANENT, or NUD_* bits up to 0x80)")
            }
            guard let flags = UInt8(exactly: request.flags) else {
                throw NetworkValidation.invalid(field + ".flags", "\(request.flags) is not a set of NTF_* flags (0...255)")
            }
            try NetworkValidation.linkName(request.device, field: field + ".device")
            guard let link = links.first(where: { $0.name == request.device }) else {
                throw SandboxError(.failedPrecondition, "\(field).device: no link named \(request.device)", errno: ENODEV)
            }
            planned.append(NetlinkNeighbour(index: link.index, address: address, linkLayerAddress: lladdr,
                                            state: state == 0 ? RTNL.neighbourPermanent : UInt16(state), flags: flags))
        }
        return planned
    }

    func apply(_ neighbours: [PodNeighbour]) throws(SandboxError) {
        let netlink = self.netlink
        let links = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        let planned = try Self.validate(neighbours, links: links)
        let existing = try networkDump("neighbours") { () throws(SyscallError) in try netlink.neighbours(family: nil) }
        var rollback = NetworkRollback()
        for (position, neighbour) in planned.enumerated() {
            let text = "\(neighbour.address) dev \(neighbour.index)"
            let previous = existing.first { $0.index == neighbour.index && $0.address == neighbour.address }
            do {
                try netlink.addNeighbour(neighbour, replace: true)
            } catch {
                throw rollback.fail("AddARPNeighbors neighbors[\(position)] (\(text))", error, logger: logger)
            }
            if let previous {
                rollback.record("restored neighbour \(text)") { () throws(SyscallError) in try netlink.addNeighbour(previous, replace: true) }
            } else {
                rollback.record("removed neighbour \(text)") { () throws(SyscallError) in try netlink.deleteNeighbour(neighbour) }
            }
        }
        logger.info("ARP neighbours added", metadata: ["neighbours": "\(planned.count)"])
    }
}
