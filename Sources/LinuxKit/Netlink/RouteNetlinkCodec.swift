import Glibc

/// Encodes rtnetlink requests and decodes dump entries: the family headers (ifinfomsg,
/// ifaddrmsg, rtmsg, ndmsg) and their attributes. Pure functions, tested without a kernel.
public enum RouteNetlinkCodec {
    /// ifinfomsg: family, pad, type, index, flags, change mask.
    static func linkHeader(family: UInt8, index: Int32, flags: UInt32, change: UInt32) -> [UInt8] {
        [family, 0] + UInt16(0).hostBytes + index.hostBytes + flags.hostBytes + change.hostBytes
    }

    public static func setLinkRequest(index: Int32, _ change: LinkChange) -> NetlinkRequest {
        var flags: UInt32 = 0, mask: UInt32 = 0
        if let up = change.up {
            mask |= RTNL.interfaceUp
            if up { flags |= RTNL.interfaceUp }
        }
        if let noARP = change.noARP {
            mask |= RTNL.interfaceNoARP
            if noARP { flags |= RTNL.interfaceNoARP }
        }
        var request = NetlinkRequest(type: RTNL.setLink, flags: 0, summary: "link \(index) \(describe(change))")
        request.appendFixed(linkHeader(family: 0, index: index, flags: flags, change: mask))
        if let name = change.name { request.attribute(RTNL.linkName, string: name) }
        if let mtu = change.mtu { request.attribute(RTNL.linkMTU, u32: mtu) }
        if let address = change.hardwareAddress { request.attribute(RTNL.linkAddress, address.bytes) }
        return request
    }

    public static func addressRequest(_ address: NetlinkAddress, type: UInt16, flags: UInt16) -> NetlinkRequest {
        var request = NetlinkRequest(type: type, flags: flags,
                                     summary: "\(address.address)/\(address.prefixLength) on link \(address.index)")
        request.appendFixed([address.address.family.rawValue, address.prefixLength, 0, address.scope] + address.index.hostBytes)
        request.attribute(RTNL.addrLocal, address.address.bytes)
        request.attribute(RTNL.addrAddress, address.address.bytes)
        return request
    }

    public static func routeRequest(_ route: NetlinkRoute, type: UInt16, flags: UInt16) -> NetlinkRequest {
        var request = NetlinkRequest(type: type, flags: flags, summary: describe(route))
        let table = route.table <= 255 ? UInt8(route.table) : 252  // RT_TABLE_COMPAT: the real id goes in RTA_TABLE
        request.appendFixed([route.family.rawValue, route.destinationPrefix, route.sourcePrefix, 0, table,
                             route.routeProtocol, route.scope, route.type] + route.flags.hostBytes)
        request.attribute(RTNL.routeTable, u32: route.table)
        if let destination = route.destination { request.attribute(RTNL.routeDestination, destination.bytes) }
        if let source = route.source { request.attribute(RTNL.routeSource, source.bytes) }
        if let gateway = route.gateway { request.attribute(RTNL.routeGateway, gateway.bytes) }
        if let preferred = route.preferredSource { request.attribute(RTNL.routePreferredSource, preferred.bytes) }
        if route.outputInterface != 0 { request.attribute(RTNL.routeOutputInterface, u32: UInt32(bitPattern: route.outputInterface)) }
        if let priority = route.priority { request.attribute(RTNL.routePriority, u32: priority) }
        if route.mtu != 0 { request.nested(RTNL.routeMetrics, [(RTNL.metricMTU, route.mtu.hostBytes)]) }
        return request
    }

    public static func neighbourRequest(_ neighbour: NetlinkNeighbour, type: UInt16, flags: UInt16) -> NetlinkRequest {
        var request = NetlinkRequest(type: type, flags: flags, summary: "neighbour \(neighbour.address) on link \(neighbour.index)")
        request.appendFixed([neighbour.address.family.rawValue, 0, 0, 0] + neighbour.index.hostBytes
                            + neighbour.state.hostBytes + [neighbour.flags, 0])
        request.attribute(RTNL.neighbourDestination, neighbour.address.bytes)
        if let lladdr = neighbour.linkLayerAddress { request.attribute(RTNL.neighbourLinkLayerAddress, lladdr.bytes) }
        return request
    }

    // MARK: decoding

    public static func decodeLink(_ payload: [UInt8]) throws(SyscallError) -> NetlinkLink {
        let reader = NetlinkBytes(payload[...])
        guard let index = reader.i32(4), let flags = reader.u32(8), let rest = reader.slice(16, reader.count - 16) else {
            throw netlinkDecodeError("RTM_NEWLINK", "\(payload.count)-byte payload is shorter than ifinfomsg")
        }
        let attributes = try NetlinkAttributes(parsing: rest, in: "RTM_NEWLINK")
        var kind = ""
        if let info = attributes[RTNL.linkInfo] {
            kind = try NetlinkAttributes(parsing: info[...], in: "IFLA_LINKINFO").string(RTNL.linkInfoKind) ?? ""
        }
        return NetlinkLink(index: index, name: attributes.string(RTNL.linkName) ?? "",
                           hardwareAddress: HardwareAddress(bytes: attributes[RTNL.linkAddress] ?? []),
                           mtu: attributes.u32(RTNL.linkMTU) ?? 0, flags: flags, kind: kind)
    }

    /// nil for families other than IPv4/IPv6.
    public static func decodeAddress(_ payload: [UInt8]) throws(SyscallError) -> NetlinkAddress? {
        let reader = NetlinkBytes(payload[...])
        guard let family = reader.u8(0), let prefix = reader.u8(1), let scope = reader.u8(3), let index = reader.i32(4),
            let rest = reader.slice(8, reader.count - 8)
        else {
            throw netlinkDecodeError("RTM_NEWADDR", "\(payload.count)-byte payload is shorter than ifaddrmsg")
        }
        guard AddressFamily(rawValue: family) != nil else { return nil }
        let attributes = try NetlinkAttributes(parsing: rest, in: "RTM_NEWADDR")
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on point-to-point links.
        guard let address = attributes.address(RTNL.addrLocal) ?? attributes.address(RTNL.addrAddress) else { return nil }
        return NetlinkAddress(index: index, address: address, prefixLength: prefix, scope: scope)
    }

    /// nil for families other than IPv4/IPv6.
    public static func decodeRoute(_ payload: [UInt8]) throws(SyscallError) -> NetlinkRoute? {
        let reader = NetlinkBytes(payload[...])
        guard let familyByte = reader.u8(0), let dstLen = reader.u8(1), let srcLen = reader.u8(2), let table = reader.u8(4),
            let proto = reader.u8(5), let scope = reader.u8(6), let type = reader.u8(7), let flags = reader.u32(8),
            let rest = reader.slice(12, reader.count - 12)
        else {
            throw netlinkDecodeError("RTM_NEWROUTE", "\(payload.count)-byte payload is shorter than rtmsg")
        }
        guard let family = AddressFamily(rawValue: familyByte) else { return nil }
        let attributes = try NetlinkAttributes(parsing: rest, in: "RTM_NEWROUTE")
        var route = NetlinkRoute(family: family)
        route.table = attributes.u32(RTNL.routeTable) ?? UInt32(table)
        route.destinationPrefix = dstLen
        route.sourcePrefix = srcLen
        route.destination = attributes.address(RTNL.routeDestination)
        route.source = attributes.address(RTNL.routeSource)
        route.gateway = attributes.address(RTNL.routeGateway)
        route.preferredSource = attributes.address(RTNL.routePreferredSource)
        route.outputInterface = attributes.u32(RTNL.routeOutputInterface).map { Int32(bitPattern: $0) } ?? 0
        route.scope = scope
        route.routeProtocol = proto
        route.type = type
        route.flags = flags
        route.priority = attributes.u32(RTNL.routePriority)
        if let metrics = attributes[RTNL.routeMetrics] {
            route.mtu = try NetlinkAttributes(parsing: metrics[...], in: "RTA_METRICS").u32(RTNL.metricMTU) ?? 0
        }
        return route
    }

    /// nil for families other than IPv4/IPv6 or entries without a destination.
    public static func decodeNeighbour(_ payload: [UInt8]) throws(SyscallError) -> NetlinkNeighbour? {
        let reader = NetlinkBytes(payload[...])
        guard let family = reader.u8(0), let index = reader.i32(4), let state = reader.u16(8), let flags = reader.u8(10),
            let rest = reader.slice(12, reader.count - 12)
        else {
            throw netlinkDecodeError("RTM_NEWNEIGH", "\(payload.count)-byte payload is shorter than ndmsg")
        }
        guard AddressFamily(rawValue: family) != nil else { return nil }
        let attributes = try NetlinkAttributes(parsing: rest, in: "RTM_NEWNEIGH")
        guard let address = attributes.address(RTNL.neighbourDestination) else { return nil }
        return NetlinkNeighbour(index: index, address: address,
                                linkLayerAddress: attributes[RTNL.neighbourLinkLayerAddress].map(HardwareAddress.init(bytes:)),
                                state: state, flags: flags)
    }

    // MARK: text for errors

    static func describe(_ change: LinkChange) -> String {
        var parts: [String] = []
        if let name = change.name { parts.append("name \(name)") }
        if let mtu = change.mtu { parts.append("mtu \(mtu)") }
        if let address = change.hardwareAddress { parts.append("address \(address)") }
        if let noARP = change.noARP { parts.append(noARP ? "arp off" : "arp on") }
        if let up = change.up { parts.append(up ? "up" : "down") }
        return parts.joined(separator: " ")
    }

    /// The route in iproute2's words ("default via 10.0.0.1 dev 3 table 254").
    public static func describe(_ route: NetlinkRoute) -> String {
        var text = route.destination.map { "\($0)/\(route.destinationPrefix)" } ?? "default"
        if let source = route.source { text += " from \(source)/\(route.sourcePrefix)" }
        if let gateway = route.gateway { text += " via \(gateway)" }
        if route.outputInterface != 0 { text += " dev \(route.outputInterface)" }
        if let preferred = route.preferredSource { text += " src \(preferred)" }
        text += " scope \(route.scope) table \(route.table)"
        if route.mtu != 0 { text += " mtu \(route.mtu)" }
        return text
    }
}
