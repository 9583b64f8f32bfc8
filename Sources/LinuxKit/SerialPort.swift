import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A virtio-serial port, found by the name the VMM gave it (e.g. `agent.channel.0`).
///
/// Without udev there is no /dev/virtio-ports/<name> link, so the port is looked up in
/// /sys/class/virtio-ports/vportNpM/name and opened as /dev/vportNpM.
public struct VirtioSerialPort: SerialStreamPort {
    public static let sysfsDirectory = "/sys/class/virtio-ports"

    /// The device node, e.g. /dev/vport0p1.
    public let path: String
    /// The port's name in sysfs.
    public let portName: String

    public var name: String { "virtio-serial port \(portName) (\(path))" }

    public init(path: String, portName: String) {
        self.path = path
        self.portName = portName
    }

    /// The device path of the port named `name`, or nil when no port has that name.
    public static func find(name: String, sysfs: String = sysfsDirectory, devices: String = "/dev") -> String? {
        guard let entries = try? LinuxSystemCalls().listDirectory(sysfs) else { return nil }
        for entry in entries.sorted() {
            guard let text = try? WholeFile.text("\(sysfs)/\(entry)/name") else { continue }
            if text.trimmingWhitespace() == name {
                return "\(devices)/\(entry)"
            }
        }
        return nil
    }

    /// Finds the port named `name`, waiting up to `timeout` seconds for it to appear (the
    /// virtio_console driver probes asynchronously after its module loads).
    public static func waitFor(
        name: String, timeout: Double, sysfs: String = sysfsDirectory, devices: String = "/dev"
    ) throws(SyscallError) -> VirtioSerialPort {
        let deadline = ConsoleClock.now() + timeout
        while true {
            if let path = find(name: name, sysfs: sysfs, devices: devices), access(path, R_OK | W_OK) == 0 {
                return VirtioSerialPort(path: path, portName: name)
            }
            if ConsoleClock.now() >= deadline {
                throw SyscallError(
                    "find virtio-serial port", target: "named '\(name)' in \(sysfs)", errno: ENOENT,
                    detail: "is virtio_console loaded and does the VMM define a virtserialport with name=\(name)?")
            }
            // Device probing has no event we can wait on without udev; poll briefly.
            usleep(50_000)
        }
    }

    /// Opens the port (non-blocking) for the bridge's whole life.
    public func open() throws(SyscallError) -> Int32 {
        let fd = openDevice(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw SyscallError("open", target: name, errno: errno, detail: errno == EBUSY ? "another process holds the port open" : "")
        }
        return fd
    }

    /// Waits until a host is connected to the port's chardev (the port turns writable).
    public func waitForHost(_ fd: Int32, stop: ConsoleWakeup) throws(SyscallError) -> Bool {
        let result = console_wait_port_writable(fd, stop.readFD, -1)
        if result == 1 { return true }
        if result == 2 { return false }
        throw SyscallError("wait for the host on", target: name, errno: result < 0 ? -result : ETIMEDOUT)
    }
}

/// open(2), out of reach of VirtioSerialPort.open's name.
private func openDevice(_ path: String, _ flags: Int32) -> Int32 {
    open(path, flags)
}
