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

/// A pty stands in for the virtio-serial port: the bridge holds the slave as it holds
/// /dev/vportNpM, the test writes the host's bytes on the master as QEMU does. The master
/// never hangs up between host connections, which is the case where the guest cannot see
/// a disconnect at all (QEMU's close and the next connect land between two polls).
final class SerialBridgeTests: XCTestCase {
    private struct Rig {
        let pty: PtyPair
        let slavePath: String

        init() throws {
            pty = try PtyPair.open()
            var raw = termios()
            tcgetattr(pty.slave, &raw)
            cfmakeraw(&raw)
            tcsetattr(pty.slave, TCSANOW, &raw)
            slavePath = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(pty.slave)")
        }

        var port: VirtioSerialPort { VirtioSerialPort(path: slavePath, portName: "test") }

        func close() {
            Glibc.close(pty.master)
            Glibc.close(pty.slave)
        }
    }

    func testBackToBackHostConnectionsGetFreshBackendSessions() throws {
        let backendPath = ConsoleTestSupport.socketPath("grpc")
        defer { unlink(backendPath) }
        let backend = try NumberingEchoServer(path: backendPath)
        defer { backend.stop() }
        let rig = try Rig()
        defer { rig.close() }
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let bridge = try SerialBridge(
            port: rig.port, backendPath: backendPath, logger: ConsoleTestSupport.logger,
            onSessionEnd: { _, why in sessions.put(why) })
        bridge.start()
        defer { bridge.stop() }

        // Stale bytes from before any connection, then three connections with no hang-up
        // between them; each must reach a backend connection of its own, preface first.
        ConsoleIO.writeAll(rig.pty.master, Array("stale".utf8))
        for round in 1...3 {
            let tag = "round-\(round)"
            XCTAssertTrue(ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.connection(tag)))
            let reply = ConsoleTestSupport.read(rig.pty.master) { $0.contains(tag) }
            XCTAssertTrue(reply.text.hasPrefix("\(round):PRI * HTTP/2.0"), "round \(round): \(reply.text.debugDescription)")
            XCTAssertFalse(reply.text.contains("stale"), reply.text)
            if round > 1 {
                XCTAssertEqual(sessions.take(), .hostReconnected, "session \(round - 1) did not end at the new preface")
                XCTAssertEqual(backend.ended.take(), round - 1, "the old session's backend connection stayed open")
            }
        }
    }

    func testHostHangupEndsTheSession() throws {
        let backendPath = ConsoleTestSupport.socketPath("hup")
        defer { unlink(backendPath) }
        let backend = try NumberingEchoServer(path: backendPath)
        defer { backend.stop() }
        let rig = try Rig()
        defer { Glibc.close(rig.pty.slave) }
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let bridge = try SerialBridge(
            port: rig.port, backendPath: backendPath, logger: ConsoleTestSupport.logger,
            onSessionEnd: { _, why in sessions.put(why) })
        bridge.start()
        defer { bridge.stop() }
        ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.connection("hello"))
        XCTAssertTrue(ConsoleTestSupport.read(rig.pty.master) { $0.contains("hello") }.text.contains("1:"))
        Glibc.close(rig.pty.master)
        XCTAssertEqual(sessions.take(), .hostClosed)
        XCTAssertEqual(backend.ended.take(), 1)
    }

    func testBackendClosingEndsTheSessionAndItsLastBytesReachTheHost() throws {
        let backendPath = ConsoleTestSupport.socketPath("gone")
        defer { unlink(backendPath) }
        // A backend that answers once and hangs up, like a server ending an HTTP/2 session.
        let listener = try ConsoleListener.unix(path: backendPath)
        Thread {
            while let fd = try? listener.accept() {
                ConsoleIO.writeAll(fd, Array("bye".utf8))
                close(fd)
            }
        }.start()
        let rig = try Rig()
        defer { rig.close() }
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let bridge = try SerialBridge(
            port: rig.port, backendPath: backendPath, logger: ConsoleTestSupport.logger,
            onSessionEnd: { _, why in sessions.put(why) })
        bridge.start()
        defer { bridge.stop(); listener.stop() }
        ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.connection("one"))
        XCTAssertEqual(ConsoleTestSupport.read(rig.pty.master) { $0 == "bye" }.text, "bye")
        XCTAssertEqual(sessions.take(), .serverClosed)
        // The same host connection goes on; a new one (its preface) gets a new session.
        ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.frame(Array("late".utf8)) + HTTP2Bytes.connection("two"))
        XCTAssertEqual(ConsoleTestSupport.read(rig.pty.master) { $0 == "bye" }.text, "bye")
        XCTAssertEqual(sessions.take(), .serverClosed)
    }

    func testStopLetsTheSessionsServerFinishItsAnswer() throws {
        let rig = try Rig()
        defer { rig.close() }
        let serverEnd = ConsoleMailbox<Int32>()
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let stopped = ConsoleMailbox<Bool>()
        let bridge = try SerialBridge(
            port: rig.port,
            openSession: { () throws(SyscallError) -> Int32 in
                let (relayEnd, server) = try SerialBridge.sessionSocketPair()
                serverEnd.put(server)
                return relayEnd
            },
            stopDrainTimeout: 20, logger: ConsoleTestSupport.logger, onSessionEnd: { _, why in sessions.put(why) })
        bridge.start(whenStopped: { stopped.put(true) })
        ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.connection("destroy"))
        guard let server = serverEnd.take() else { return XCTFail("no session opened") }
        defer { close(server) }
        XCTAssertTrue(ConsoleTestSupport.read(server) { $0.contains("destroy") }.text.contains("destroy"))
        // The server is still answering the RPC that stops the agent when the bridge is told to stop.
        bridge.stop()
        XCTAssertTrue(ConsoleIO.writeAll(server, Array("answer".utf8)))
        close(server)
        XCTAssertEqual(ConsoleTestSupport.read(rig.pty.master) { $0 == "answer" }.text, "answer")
        XCTAssertEqual(stopped.take(), true)
        XCTAssertEqual(sessions.take(), .serverClosed)
    }

    func testALateHangupNoticeOfAnEarlierConnectionKeepsTheNewSession() throws {
        let rig = try Rig()
        defer { rig.close() }
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let bridge = try SerialBridge(
            port: rig.port,
            openSession: { () throws(SyscallError) -> Int32 in
                let (relayEnd, server) = try SerialBridge.sessionSocketPair()
                close(server)
                return relayEnd
            },
            logger: ConsoleTestSupport.logger, onSessionEnd: { _, why in sessions.put(why) })
        var relay = SerialRelay(bridge: bridge, port: rig.pty.slave)
        // Connection 1, then connection 2 found by its bytes (no hang-up seen in between).
        relay.startSession()
        relay.startSession()
        XCTAssertEqual(sessions.take(), .hostReconnected)
        // The port now reports connection 1's hang-up: connection 2's session stays.
        relay.hostGone()
        XCTAssertNotNil(relay.backend, "a late notice ended the new host's session")
        // Connection 2's own hang-up ends it.
        relay.hostGone()
        XCTAssertNil(relay.backend)
        XCTAssertEqual(sessions.take(), .hostClosed)
        // After a hang-up that was seen, the next host's first session owes no notice.
        relay.startSession()
        relay.hostGone()
        XCTAssertNil(relay.backend)
        XCTAssertEqual(sessions.take(), .hostClosed)
        relay.endSession(.stopped)
    }

    func testUnreachableBackendIsReportedAndTheBridgeKeepsServing() throws {
        let rig = try Rig()
        defer { rig.close() }
        let sessions = ConsoleMailbox<SerialBridge.SessionEnd>()
        let bridge = try SerialBridge(
            port: rig.port, backendPath: "/nonexistent/grpc.sock", backendTimeout: 0,
            logger: ConsoleTestSupport.logger, onSessionEnd: { _, why in sessions.put(why) })
        bridge.start()
        defer { bridge.stop() }
        for round in 0..<2 {
            ConsoleIO.writeAll(rig.pty.master, HTTP2Bytes.connection("try-\(round)"))
            guard case let .failed(error)? = sessions.take() else { return XCTFail("no failed session reported") }
            XCTAssertTrue(error.description.contains("/nonexistent/grpc.sock"), "\(error)")
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
}
