import Glibc
import LinuxKit
import Logging

/// UpdateRoutes: adds (replacing equal-keyed ones) every route of the request in the main table,
/// routes without a gateway first so the gateways of the others are reachable. Existing routes
/// are kept. Validated and resolved (devices) before the first change; a failure undoes the
/// routes this request already added or replaced.
struct RouteUpdate {
    let netlink: any RouteNetlink
    let logger: Logger

    /// One route checked and turned into its netlink form; `position` is its index in the request.
    struct Planned {
        var position: Int
        var route: NetlinkRoute
    }

    static func validate(_ routes: [PodRoute], links: [NetlinkLink]) throws(SandboxError) -> [Planned] {
        var planned: [Planned] = []
        for (position, request) in routes.enumerated() {
            let field = "routes[\(position)]"
            let family = try NetworkValidation.family(request.family, field: field + ".family")
            var route = NetlinkRoute(family: family)
            route.scope = try NetworkValidation.scope(request.scope, field: field + ".scope")
            route.flags = request.flags
            route.mtu = try NetworkValidation.mtu(UInt64(request.mtu), field: field + ".mtu") ?? 0
            if !request.dest.isEmpty {
                let (address, prefix) = try NetworkValidation.network(request.dest, family: family, field: field + ".dest")
                guard address == Self.masked(address, prefix) else {
                    throw NetworkValidation.invalid(field + ".dest", "'\(request.dest)' has host bits set (the network is \(Self.masked(address, prefix))/\(prefix))")
                }
                if prefix > 0 {
                    route.destination = address
                    route.destinationPrefix = prefix
                }
            }
            if !request.gateway.isEmpty {
                route.gateway = try NetworkValidation.address(request.gateway, family: family, field: field + ".gateway")
            }
            if !request.source.isEmpty {
                // As upstream: "address/prefix" with a prefix is a source-specific route (rtm_src),
                // a bare address the preferred source (RTA_PREFSRC).
                let (address, prefix) = try NetworkValidation.network(request.source, family: family, field: field + ".source")
                if request.source.contains("/") && prefix > 0 {
                    route.source = address
                    route.sourcePrefix = prefix
                } else {
                    route.preferredSource = address
                }
            }
            try NetworkValidation.linkName(request.device, field: field + ".device")
            guard let link = links.first(where: { $0.name == request.device }) else {
                throw SandboxError(.failedPrecondition, "\(field).device: no link named \(request.device)", errno: ENODEV)
            }
            route.outputInterface = link.index
            planned.append(Planned(position: position, route: route))
        }
        // Directly connected routes first: a gateway must be reachable when its route is added.
        return planned.filter { $0.route.gateway == nil } + planned.filter { $0.route.gateway != nil }
    }

    func apply(_ routes: [PodRoute]) throws(SandboxError) -> [PodRoute] {
        let netlink = self.netlink
        let links = try networkDump("links") { () throws(SyscallError) in try netlink.links() }
        let planned = try Self.validate(routes, links: links)
        var existing: [NetlinkRoute] = []
        for family in Set(planned.map(\.route.family)) {
            existing += try networkDump("routes") { () throws(SyscallError) in try netlink.routes(family: family) }
        }
        var rollback = NetworkRollback()
        for entry in planned {
            let route = entry.route
            let text = RouteNetlinkCodec.describe(route)
            let previous = existing.first { Self.sameKey($0, route) }
            do {
                try netlink.addRoute(route, replace: true)
            } catch {
                throw rollback.fail("UpdateRoutes routes[\(entry.position)] (\(text))", error, logger: logger)
            }
            if let previous {
                rollback.record("restored \(RouteNetlinkCodec.describe(previous))") { () throws(SyscallError) in
                    try netlink.addRoute(previous, replace: true)
                }
            } else {
                rollback.record("removed \(text)") { () throws(SyscallError) in try netlink.deleteRoute(route) }
            }
        }
        logger.info("routes updated", metadata: ["routes": "\(planned.count)"])
        return try NetworkListing.routes(netlink: netlink)
    }

    /// The kernel's FIB key: family, table, destination and priority (IPv6 routes default to 1024).
    static func sameKey(_ existing: NetlinkRoute, _ route: NetlinkRoute) -> Bool {
        let defaultPriority: UInt32 = route.family == .inet6 ? 1024 : 0
        return existing.family == route.family && existing.table == route.table
            && existing.destinationPrefix == route.destinationPrefix
            && (existing.destination ?? .unspecified(existing.family)) == (route.destination ?? .unspecified(route.family))
            && (existing.priority ?? defaultPriority) == (route.priority ?? defaultPriority)
    }

    static func masked(_ address: IPAddress, _ prefix: UInt8) -> IPAddress {
        var bytes = address.bytes
        var remaining = Int(prefix)
        for index in bytes.indices {
            if remaining >= 8 {
                remaining -= 8
            } else {
                bytes[index] &= remaining == 0 ? 0 : ~UInt8(0) << (8 - remaining)
                remaining = 0
            }
        }
        return IPAddress(bytes: bytes) ?? address
    }
}
