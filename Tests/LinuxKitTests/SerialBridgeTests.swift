import Foundation
import Glibc
import XCTest
@testable import LinuxKit

/// A backend standing in for the gRPC server: answers each connection's bytes prefixed with
/// the connection's number, and records when a connection ends.
final class NumberingEchoServer: @unchecked Sendable {
    let listener: ConsoleListener
    let ended = ConsoleMailbox<Int>()

    init(path: String) throws {
        listener = try ConsoleListener.unix(path: path)
        let listener = self.listener
        let ended = self.ended
        Thread {
            var count = 0
            while let fd = try? listener.accept() {
                count += 1
                let number = count
                Thread {
                    var buffer = [UInt8](repeating: 0, count: 4096)
                    while true {
                        let n = read(fd, &buffer, buffer.count)
                        if n <= 0 { break }
                        ConsoleIO.writeAll(fd, Array("\(number):".utf8) + buffer[0..<n])
                    }
                    close(fd)
                    ended.put(number)
                }.start()
            }
        }.start()
    }

    func stop() { listener.stop() }
}

final class SerialBridgeTests: XCTestCase {
    func testReconnectGetsAFreshBackendSession() throws {
        let portPath = ConsoleTestSupport.socketPath("port")
        let backendPath = ConsoleTestSupport.socketPath("grpc")
        defer { unlink(portPath); unlink(backendPath) }
        let backend = try NumberingEchoServer(path: backendPath)
        defer { backend.stop() }
        let sessions = ConsoleMailbox<Int>()
        let bridge = try SerialBridge(
            source: ListenerSessionSource(listener: .unix(path: portPath)), backendPath: backendPath,
            logger: ConsoleTestSupport.logger, onSessionEnd: { number, _ in sessions.put(number) })
        bridge.start()
        defer { bridge.stop() }

        let host1 = try UnixSocket.connect(path: portPath)
        ConsoleTestSupport.send(host1, "hello")
        let first = ConsoleTestSupport.read(host1) { $0 == "1:hello" }
        XCTAssertEqual(first.text, "1:hello")
        close(host1)
        XCTAssertEqual(sessions.take(), 1, "the bridge did not notice the host leaving")
        XCTAssertEqual(backend.ended.take(), 1, "the backend connection of the old session stayed open")

        let host2 = try UnixSocket.connect(path: portPath)
        defer { close(host2) }
        ConsoleTestSupport.send(host2, "again")
        let second = ConsoleTestSupport.read(host2) { $0 == "2:again" }
        XCTAssertEqual(second.text, "2:again", "a reconnecting host must reach a new backend connection")
    }

    func testBackendClosingEndsTheSession() throws {
        let portPath = ConsoleTestSupport.socketPath("port")
        let backendPath = ConsoleTestSupport.socketPath("gone")
        defer { unlink(portPath); unlink(backendPath) }
        // A backend that answers once and hangs up, like a server ending an HTTP/2 session.
        let listener = try ConsoleListener.unix(path: backendPath)
        Thread {
            if let fd = try? listener.accept() {
                ConsoleIO.writeAll(fd, Array("bye".utf8))
                close(fd)
            }
        }.start()
        let sessions = ConsoleMailbox<ConsolePump.Outcome>()
        let bridge = try SerialBridge(
            source: ListenerSessionSource(listener: .unix(path: portPath)), backendPath: backendPath,
            logger: ConsoleTestSupport.logger, onSessionEnd: { _, outcome in sessions.put(outcome) })
        bridge.start()
        defer { bridge.stop(); listener.stop() }
        let host = try UnixSocket.connect(path: portPath)
        defer { close(host) }
        let (text, eof) = ConsoleTestSupport.read(host) { _ in false }
        XCTAssertEqual(text, "bye")
        XCTAssertTrue(eof)
        XCTAssertEqual(sessions.take(), .sideBClosed)
    }

    func testUnreachableBackendIsReportedAndTheBridgeKeepsServing() throws {
        let portPath = ConsoleTestSupport.socketPath("port")
        defer { unlink(portPath) }
        let sessions = ConsoleMailbox<ConsolePump.Outcome>()
        let bridge = try SerialBridge(
            source: ListenerSessionSource(listener: .unix(path: portPath)), backendPath: "/nonexistent/grpc.sock",
            backendTimeout: 0, logger: ConsoleTestSupport.logger, onSessionEnd: { _, outcome in sessions.put(outcome) })
        bridge.start()
        defer { bridge.stop() }
        for _ in 0..<2 {
            let host = try UnixSocket.connect(path: portPath)
            guard case let .failed(error)? = sessions.take() else { return XCTFail("no failed session reported") }
            XCTAssertTrue(error.description.contains("/nonexistent/grpc.sock"), "\(error)")
            close(host)
        }
    }

    func testFindsThePortByItsSysfsName() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("vports-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (entry, name) in [("vport0p0", "org.qemu.guest_agent.0"), ("vport0p1", "agent.channel.0")] {
            try FileManager.default.createDirectory(atPath: "\(root)/\(entry)", withIntermediateDirectories: true)
            try "\(name)\n".write(toFile: "\(root)/\(entry)/name", atomically: true, encoding: .utf8)
        }
        XCTAssertEqual(VirtioSerialPort.find(name: "agent.channel.0", sysfs: root), "/dev/vport0p1")
        XCTAssertNil(VirtioSerialPort.find(name: "agent.channel.1", sysfs: root))
        XCTAssertNil(VirtioSerialPort.find(name: "agent.channel.0", sysfs: root + "/missing"))
        XCTAssertThrowsError(try VirtioSerialPort.waitFor(name: "agent.channel.1", timeout: 0, sysfs: root)) { error in
            XCTAssertTrue("\(error)".contains("agent.channel.1"), "\(error)")
        }
    }

    func testPortDeviceSessionOverAPty() throws {
        // A pty slave stands in for /dev/vportNpM (the host is the master): exercises the real
        // port source's open, wait-for-host and relay path.
        let backendPath = ConsoleTestSupport.socketPath("pty-grpc")
        defer { unlink(backendPath) }
        let backend = try NumberingEchoServer(path: backendPath)
        defer { backend.stop() }
        let pty = try PtyPair.open()
        defer { close(pty.master); close(pty.slave) }
        var raw = termios()
        tcgetattr(pty.slave, &raw)
        cfmakeraw(&raw)
        tcsetattr(pty.slave, TCSANOW, &raw)
        let slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pty.slave)")
        let bridge = try SerialBridge(
            source: VirtioSerialPort(path: slavePath, portName: "test"), backendPath: backendPath,
            logger: ConsoleTestSupport.logger)
        bridge.start()
        defer { bridge.stop() }
        ConsoleTestSupport.send(pty.master, "ping")
        let reply = ConsoleTestSupport.read(pty.master) { $0 == "1:ping" }
        XCTAssertEqual(reply.text, "1:ping")
    }
}
