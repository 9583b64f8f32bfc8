import LinuxKit

/// Finds the interface of a hot-plugged NIC by its PCI path, waiting for it to appear.
public protocol NetworkDeviceWaiter: Sendable {
    /// The interface name of the NIC at `pciPath` (slots from the root complex) once the
    /// kernel registered it; fails after `timeout`.
    func interfaceName(pciPath: [UInt8], timeout: Duration) async throws(SandboxError) -> String
}

/// Waits by polling sysfs for `<pci device>/net/<name>` (virtio NICs: `<pci device>/virtio<N>/net/<name>`).
///
/// SEAM: LinuxKit's uevent listener (Sources/LinuxKit/Uevent, issue of engineer S1) is the
/// event-driven way (SUBSYSTEM=net, ACTION=add, DEVPATH under the PCI device, as upstream's
/// network_device_handler). Once it keeps a map of events already seen, a waiter on it replaces
/// this one behind the same protocol; sysfs stays the first check either way (a NIC that
/// appeared before the request produced its uevent long ago).
public struct SysfsNetworkDeviceWaiter: NetworkDeviceWaiter {
    public let sysfs: String
    public let system: any SystemCalls
    /// Between two looks at sysfs.
    public let pollInterval: Duration

    public init(sysfs: String = "/sys", system: any SystemCalls = LinuxSystemCalls(), pollInterval: Duration = .milliseconds(10)) {
        self.sysfs = sysfs
        self.system = system
        self.pollInterval = pollInterval
    }

    public func interfaceName(pciPath: [UInt8], timeout: Duration) async throws(SandboxError) -> String {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        while true {
            if let name = lookup(pciPath) { return name }
            guard clock.now < deadline else {
                throw SandboxError(.system, "Link not found: no network interface at PCI path \(Self.text(pciPath)) (\(devicePath(pciPath) ?? "bridge bus unknown")) after \(timeout)")
            }
            do {
                try await Task.sleep(for: pollInterval)
            } catch {
                throw SandboxError(.system, "waiting for the NIC at PCI path \(Self.text(pciPath)) was cancelled")
            }
        }
    }

    /// The sysfs directory of the PCI device, following bridges through their secondary bus.
    func devicePath(_ slots: [UInt8]) -> String? {
        var path = sysfs + "/devices/pci0000:00"
        var bus = "0000:00"
        for (position, slot) in slots.enumerated() {
            path += "/\(bus):\(Self.hex(slot)).0"
            if position < slots.count - 1 {
                guard let buses = try? system.listDirectory(path + "/pci_bus"), let next = buses.sorted().first else { return nil }
                bus = next
            }
        }
        return path
    }

    func lookup(_ slots: [UInt8]) -> String? {
        guard let device = devicePath(slots) else { return nil }
        if let names = try? system.listDirectory(device + "/net"), let name = names.sorted().first { return name }
        guard let entries = try? system.listDirectory(device) else { return nil }
        for entry in entries.sorted() where entry.hasPrefix("virtio") {
            if let names = try? system.listDirectory(device + "/" + entry + "/net"), let name = names.sorted().first { return name }
        }
        return nil
    }

    static func hex(_ slot: UInt8) -> String {
        let text = String(slot, radix: 16)
        return slot < 16 ? "0" + text : text
    }

    static func text(_ slots: [UInt8]) -> String { slots.map(hex).joined(separator: "/") }
}
