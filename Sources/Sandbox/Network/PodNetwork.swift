import LinuxKit
import Logging

/// The guest's pod networking (UpdateInterface, UpdateRoutes, AddARPNeighbors, ListInterfaces,
/// ListRoutes, GetIPTables, SetIPTables) over a `RouteNetlink`. Changes to links, addresses,
/// routes and neighbours are serialized (the actor), so concurrent requests never interleave
/// their steps or their rollbacks; iptables runs outside (the tool takes its own lock).
public actor PodNetwork {
    let netlink: any RouteNetlink
    let deviceWaiter: any NetworkDeviceWaiter
    /// How long UpdateInterface waits for a hot-plugged NIC (agent.hotplug_timeout, default 3 s).
    let deviceTimeout: Duration
    nonisolated let commands: any CapturingCommandRunner
    nonisolated let logger: Logger

    public init(netlink: any RouteNetlink, deviceWaiter: any NetworkDeviceWaiter, commands: any CapturingCommandRunner,
                deviceTimeout: Duration = .seconds(3), logger: Logger) {
        self.netlink = netlink
        self.deviceWaiter = deviceWaiter
        self.commands = commands
        self.deviceTimeout = deviceTimeout
        self.logger = logger
    }

    /// The kernel of the agent's own network namespace, hot-plugged NICs through the agent's
    /// uevent hub (its hotplug timeout), tools spawned through `reaper`.
    public static func live(reaper: Reaper, logger: Logger) -> PodNetwork {
        let hub = UeventHub.current(logger: logger)
        return PodNetwork(netlink: LinuxRouteNetlink(), deviceWaiter: UeventNetworkDeviceWaiter(locator: DeviceLocator(hub: hub)),
                          commands: ReaperCapturingRunner(reaper: reaper), deviceTimeout: hub.timeout, logger: logger)
    }

    /// UpdateInterface; answers the link as it is afterwards.
    public func updateInterface(_ request: PodInterface) async throws(SandboxError) -> PodInterface {
        try await InterfaceUpdate(netlink: netlink, deviceWaiter: deviceWaiter, deviceTimeout: deviceTimeout, logger: logger).apply(request)
    }

    /// UpdateRoutes; answers every main-table route afterwards.
    public func updateRoutes(_ routes: [PodRoute]) throws(SandboxError) -> [PodRoute] {
        try RouteUpdate(netlink: netlink, logger: logger).apply(routes)
    }

    public func addNeighbours(_ neighbours: [PodNeighbour]) throws(SandboxError) {
        try NeighbourUpdate(netlink: netlink, logger: logger).apply(neighbours)
    }

    public func listInterfaces() throws(SandboxError) -> [PodInterface] {
        try NetworkListing.interfaces(netlink: netlink)
    }

    public func listRoutes() throws(SandboxError) -> [PodRoute] {
        try NetworkListing.routes(netlink: netlink)
    }

    /// iptables-save / ip6tables-save output.
    public nonisolated func getIPTables(ipv6: Bool) async throws(SandboxError) -> [UInt8] {
        try await IPTables(runner: commands).save(ipv6: ipv6)
    }

    /// Feeds `rules` to iptables-restore / ip6tables-restore; answers its output.
    public nonisolated func setIPTables(ipv6: Bool, rules: [UInt8]) async throws(SandboxError) -> [UInt8] {
        try await IPTables(runner: commands).restore(ipv6: ipv6, rules: rules)
    }
}
