import LinuxKit
import Logging

/// Finds the interface of a hot-plugged NIC by its PCI path, waiting for it to appear. The
/// seam under UpdateInterface.devicePath: unit tests answer in memory.
public protocol NetworkDeviceWaiter: Sendable {
    /// The interface name of the NIC at `pciPath` ("02", "01/02") once the kernel registered
    /// it; fails after `timeout`.
    func interfaceName(pciPath: String, timeout: Duration) async throws(SandboxError) -> String
}

/// The agent's uevent hub (Sandbox/Devices): a NIC already in sysfs is found at once, else its
/// `SUBSYSTEM=net` add event below the PCI device is awaited, as upstream's
/// network_device_handler does.
public struct UeventNetworkDeviceWaiter: NetworkDeviceWaiter {
    let locator: DeviceLocator

    public init(locator: DeviceLocator) {
        self.locator = locator
    }

    public func interfaceName(pciPath: String, timeout: Duration) async throws(SandboxError) -> String {
        do {
            return try await locator.netInterface(pciPath: pciPath, timeout: timeout)
        } catch {
            guard error.kind == .system else { throw error }
            // The Go runtime retries UpdateInterface only on this text: a NIC still on its way is retried.
            throw SandboxError(.system, "Link not found: \(error.message)", errno: error.errno)
        }
    }
}
