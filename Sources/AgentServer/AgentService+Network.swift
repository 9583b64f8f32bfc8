#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import GRPCCore
import KataProtocols
import Logging
import Sandbox
import SwiftProtobuf
import Synchronization

// Pod networking RPCs: decoded into the Sandbox domain's plain values, validated and run by
// PodNetwork (Sandbox/Network), encoded back. The same handlers serve every transport.
extension AgentService {
    func updateInterface(request: Grpc_UpdateInterfaceRequest, context: ServerContext) async throws -> Types_Interface {
        try await serveRPC("UpdateInterface", logger: logger) {
            guard request.hasInterface else { throw ValidationError(field: "interface", reason: "must be set") }
            return Types_Interface(try await podNetwork().updateInterface(PodInterface(request.interface)))
        }
    }

    func updateRoutes(request: Grpc_UpdateRoutesRequest, context: ServerContext) async throws -> Grpc_Routes {
        try await serveRPC("UpdateRoutes", logger: logger) {
            let routes = try await podNetwork().updateRoutes(request.routes.routes.map(PodRoute.init))
            return Grpc_Routes.with { $0.routes = routes.map(Types_Route.init) }
        }
    }

    func addARPNeighbors(request: Grpc_AddARPNeighborsRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
        try await serveRPC("AddARPNeighbors", logger: logger) {
            try await podNetwork().addNeighbours(request.neighbors.arpneighbors.map(PodNeighbour.init))
            return Google_Protobuf_Empty()
        }
    }

    func listInterfaces(request: Grpc_ListInterfacesRequest, context: ServerContext) async throws -> Grpc_Interfaces {
        try await serveRPC("ListInterfaces", logger: logger) {
            let interfaces = try await podNetwork().listInterfaces()
            return Grpc_Interfaces.with { $0.interfaces = interfaces.map(Types_Interface.init) }
        }
    }

    func listRoutes(request: Grpc_ListRoutesRequest, context: ServerContext) async throws -> Grpc_Routes {
        try await serveRPC("ListRoutes", logger: logger) {
            let routes = try await podNetwork().listRoutes()
            return Grpc_Routes.with { $0.routes = routes.map(Types_Route.init) }
        }
    }

    func getIPTables(request: Grpc_GetIPTablesRequest, context: ServerContext) async throws -> Grpc_GetIPTablesResponse {
        try await serveRPC("GetIPTables", logger: logger) {
            let data = try await podNetwork().getIPTables(ipv6: request.isIpv6)
            return Grpc_GetIPTablesResponse.with { $0.data = Data(data) }
        }
    }

    func setIPTables(request: Grpc_SetIPTablesRequest, context: ServerContext) async throws -> Grpc_SetIPTablesResponse {
        try await serveRPC("SetIPTables", logger: logger) {
            let output = try await podNetwork().setIPTables(ipv6: request.isIpv6, rules: Array(request.data))
            return Grpc_SetIPTablesResponse.with { $0.data = Data(output) }
        }
    }

    /// The process-wide pod network, on the agent's reaper (made at the first network RPC).
    private func podNetwork() throws -> PodNetwork {
        try PodNetworkInstance.current(logger: logger)
    }
}

/// One PodNetwork per agent process: its actor serializes every network change.
private enum PodNetworkInstance {
    static let instance = Mutex<PodNetwork?>(nil)

    static func current(logger: Logger) throws -> PodNetwork {
        try instance.withLock { current in
            if let current { return current }
            let reaper = try PodContainers.current(logger: logger).engine.reaper
            let made = PodNetwork.live(reaper: reaper, logger: logger)
            current = made
            return made
        }
    }
}

extension PodInterface {
    /// The protobuf message as plain values (validated by the domain).
    init(_ message: Types_Interface) {
        self.init(device: message.device, name: message.name,
                  addresses: message.ipaddresses.map { InterfaceAddress(family: $0.family.rawValue, address: $0.address, mask: $0.mask) },
                  mtu: message.mtu, hardwareAddress: message.hwAddr, devicePath: message.devicePath, type: message.type,
                  rawFlags: message.rawFlags)
    }
}

extension Types_Interface {
    init(_ interface: PodInterface) {
        self.init()
        device = interface.device
        name = interface.name
        ipaddresses = interface.addresses.map { address in
            Types_IPAddress.with {
                $0.family = Types_IPFamily(rawValue: address.family) ?? .v4
                $0.address = address.address
                $0.mask = address.mask
            }
        }
        mtu = interface.mtu
        hwAddr = interface.hardwareAddress
        devicePath = interface.devicePath
        type = interface.type
        rawFlags = interface.rawFlags
    }
}

extension PodRoute {
    init(_ message: Types_Route) {
        self.init(dest: message.dest, gateway: message.gateway, device: message.device, source: message.source,
                  scope: message.scope, family: message.family.rawValue, flags: message.flags, mtu: message.mtu)
    }
}

extension Types_Route {
    init(_ route: PodRoute) {
        self.init()
        dest = route.dest
        gateway = route.gateway
        device = route.device
        source = route.source
        scope = route.scope
        family = Types_IPFamily(rawValue: route.family) ?? .v4
        flags = route.flags
        mtu = route.mtu
    }
}

extension PodNeighbour {
    init(_ message: Types_ARPNeighbor) {
        self.init(destination: message.hasToIpaddress
                    ? InterfaceAddress(family: message.toIpaddress.family.rawValue, address: message.toIpaddress.address,
                                       mask: message.toIpaddress.mask) : nil,
                  device: message.device, linkLayerAddress: message.lladdr, state: message.state, flags: message.flags)
    }
}
