#if canImport(Glibc)
import Glibc
#endif
import GRPCNIOTransportHTTP2Posix
import LinuxKit
import Logging

/// `agent.server_addr=serial://NAME`: the gRPC API over a virtio-serial port.
///
/// The gRPC server listens on a private abstract unix socket; a SerialBridge thread relays
/// each host HTTP/2 session on the port (found by its sysfs name) to a fresh connection to it,
/// so a host that reconnects gets a new HTTP/2 session while containers keep running.
public enum ConsoleSerialTransport {
    /// How long the agent waits for the port to appear after the virtio_console driver loads.
    public static let portTimeout: Double = 30

    /// The private socket the server listens on for the bridge (abstract namespace).
    static func privateSocketName(portName: String) -> String {
        "kata-agent-serial-\(getpid())-\(portName)"
    }

    /// Finds the port, starts its bridge and returns the server transport for the private socket.
    static func transport(
        portName: String, config: HTTP2ServerTransport.Posix.Config,
        sysfs: String = VirtioSerialPort.sysfsDirectory, devices: String = "/dev"
    ) throws -> HTTP2ServerTransport.Posix {
        let logger = Logger(label: "serial-transport")
        let port = try VirtioSerialPort.waitFor(name: portName, timeout: portTimeout, sysfs: sysfs, devices: devices)
        let name = privateSocketName(portName: portName)
        let fd = try ListenerSocket.bindAbstract(name: name)
        let bridge = try SerialBridge(
            port: port, backendPath: "@" + name, maxFrameSize: config.http2.maxFrameSize, logger: logger)
        // The bridge lives as long as the agent: the server never stops serving the port.
        bridge.start()
        return HTTP2ServerTransport.Posix(
            listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext, config: config)
    }
}
