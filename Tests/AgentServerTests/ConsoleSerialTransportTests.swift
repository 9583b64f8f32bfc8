import AgentConfig
import Foundation
import GRPCCore
import KataProtocols
import Logging
import XCTest

@testable import AgentServer
@testable import LinuxKit
@testable import Sandbox

/// The gRPC API through the serial transport's bridge, with a unix listener standing in for
/// the virtio-serial port (each connection one host session, as QEMU's chardev socket is).
final class ConsoleSerialTransportTests: XCTestCase {
    private var logger: Logger {
        var logger = Logger(label: "serial-transport-test")
        logger.logLevel = .critical
        return logger
    }

    func testServerAddressParsesSerial() throws {
        XCTAssertEqual(try ServerAddress.parse("serial://agent.channel.0"), .serial(name: "agent.channel.0"))
        XCTAssertEqual(ServerAddress.serial(name: "agent.channel.0").description, "serial://agent.channel.0")
        for bad in ["serial://", "serial://a/b", "serial://a b"] {
            XCTAssertThrowsError(try ServerAddress.parse(bad), bad)
        }
    }

    func testMissingPortIsAClearError() throws {
        let directory = try makeTemporaryDirectory(for: self, "noport")
        XCTAssertThrowsError(try VirtioSerialPort.waitFor(name: "agent.channel.0", timeout: 0, sysfs: directory)) { error in
            XCTAssertTrue("\(error)".contains("agent.channel.0"), "\(error)")
        }
    }

    /// A host that reconnects right after closing, over and over, with abandoned connections
    /// (a preface and settings, then gone, like a readiness probe giving up) in between: each
    /// new connection must get an HTTP/2 session that answers. The port stand-in never hangs
    /// up, so the bridge can only find the connections in the bytes, as in a guest that
    /// misses QEMU's close and reconnect between two polls.
    func testRapidHostReconnectsEachGetAnAnsweringSession() async throws {
        let directory = try makeTemporaryDirectory(for: self, "serial")
        let backend = directory + "/grpc.sock"
        let portPath = directory + "/port.sock"
        let options = AgentServer.Options(address: .unix(path: backend), agentVersion: "serial-test")
        let server = Task { [logger] in
            try await AgentServer.run(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
        }
        defer { server.cancel() }

        let pty = try PtyPair.open()
        defer { close(pty.master); close(pty.slave) }
        var raw = termios()
        tcgetattr(pty.slave, &raw)
        cfmakeraw(&raw)
        tcsetattr(pty.slave, TCSANOW, &raw)
        let slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pty.slave)")
        let chardev = try ChardevStandIn(path: portPath, master: pty.master)
        defer { chardev.stop() }

        let ended = ConsoleSessionMailbox()
        let bridge = try SerialBridge(
            port: VirtioSerialPort(path: slavePath, portName: "test"), backendPath: backend,
            logger: logger,
            onSessionEnd: { number, _ in ended.put(number) })
        bridge.start()
        defer { bridge.stop() }

        for round in 1...20 {
            if round % 3 == 0 {
                // A probe that gives up once the server acknowledged its settings. (Output of a
                // session written after its host left could reach the next host over QEMU too,
                // and no guest can tell; so the probe leaves only when the server is silent.)
                let probe = try UnixSocket.connect(path: portPath)
                ConsoleIO.writeAll(probe, HTTP2SessionSplitter.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0])
                let settingsAck: [UInt8] = [0, 0, 0, 4, 1, 0, 0, 0, 0]
                XCTAssertTrue(readUntil(probe, contains: settingsAck, seconds: 30), "round \(round): no answer to the probe")
                close(probe)
            }
            try await GRPCTestClient.with(unixPath: portPath) { client in
                let health = Grpc_Health.Client(wrapping: client)
                let check = try await health.check(Grpc_CheckRequest(), options: AgentProcess.callOptions(seconds: 30))
                XCTAssertEqual(check.status, .serving, "round \(round)")
            }
        }
        // 20 clients and 6 probes, each its own session; all but the last one ended.
        for expected in 1...25 {
            let number = await ended.take(seconds: 30)
            XCTAssertEqual(number, expected, "sessions ended out of order or not at all")
        }
    }
}

/// Reads `fd` until its bytes contain `needle`; false at EOF or after `seconds`.
private func readUntil(_ fd: Int32, contains needle: [UInt8], seconds: Double) -> Bool {
    let deadline = ConsoleClock.now() + seconds
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    while ConsoleClock.now() < deadline {
        if HTTP2SessionSplitter.find(needle, in: bytes, from: 0) != nil { return true }
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&pfd, 1, Int32(max(1, (deadline - ConsoleClock.now()) * 1000))) <= 0 { continue }
        let n = read(fd, &buffer, buffer.count)
        if n <= 0 { return false }
        bytes.append(contentsOf: buffer[0..<n])
    }
    return false
}

/// Plays QEMU's chardev socket in front of a virtio-serial port, `master` being the port's
/// host end: one host connection at a time is relayed to it, and what the guest writes while
/// no host is connected is dropped, as QEMU drops it. The master never hangs up.
final class ChardevStandIn: @unchecked Sendable {
    private let listener: ConsoleListener
    private let master: Int32
    private let stopSignal: ConsoleWakeup

    init(path: String, master: Int32) throws {
        listener = try ConsoleListener.unix(path: path)
        self.master = master
        stopSignal = try ConsoleWakeup()
        try ConsoleIO.setNonBlocking(master, target: "pty master")
        Thread { [self] in run() }.start()
    }

    func stop() {
        stopSignal.raise()
        listener.stop()
    }

    private func run() {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var fds = [
                pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0),
                pollfd(fd: master, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stopSignal.readFD, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 3, -1) < 0 { if errno == EINTR { continue } else { return } }
            if fds[2].revents != 0 { return }
            if fds[1].revents != 0 { _ = read(master, &scratch, scratch.count) }
            guard fds[0].revents != 0 else { continue }
            guard let host = try? listener.accept(alsoStop: stopSignal) else { return }
            defer { close(host) }
            guard (try? ConsoleIO.setNonBlocking(host, target: "host")) != nil else { continue }
            let pump = ConsolePump(
                a: .init(fd: host, name: "host connection"), b: .init(fd: master, name: "port"), wakeup: stopSignal)
            if pump.run() == .stopped { return }
        }
    }
}

/// Session numbers handed from the bridge's thread to the test, awaited off the cooperative pool.
final class ConsoleSessionMailbox: @unchecked Sendable {
    private var values: [Int] = []
    private let condition = NSCondition()

    func put(_ value: Int) {
        condition.lock()
        values.append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// The next value, or nil after `seconds`; blocks a private thread, never a task's.
    func take(seconds: Double) async -> Int? {
        await withCheckedContinuation { continuation in
            Thread { [self] in
                let deadline = Date(timeIntervalSinceNow: seconds)
                condition.lock()
                while values.isEmpty, condition.wait(until: deadline) {}
                let value = values.isEmpty ? nil : values.removeFirst()
                condition.unlock()
                continuation.resume(returning: value)
            }.start()
        }
    }
}
