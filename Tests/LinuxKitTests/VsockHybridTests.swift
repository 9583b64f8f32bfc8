import Foundation
import Glibc
import XCTest
@testable import LinuxKit

/// A fake VMM hybrid-vsock socket: reads the handshake line, answers with `reply`, then
/// either sends `greeting` or relays the connection to `relayTo`.
final class FakeVMM: @unchecked Sendable {
    let listener: ConsoleListener
    let handshakes = ConsoleMailbox<String>()

    init(path: String, reply: String?, greeting: String = "", relayTo: String? = nil) throws {
        listener = try ConsoleListener.unix(path: path)
        let listener = self.listener
        let handshakes = self.handshakes
        Thread {
            while let fd = try? listener.accept() {
                let line = (try? VsockHybrid.readLine(fd, target: "fake vmm", deadline: ConsoleClock.now() + 20)) ?? "<none>"
                handshakes.put(line)
                guard let reply else {
                    close(fd)
                    continue
                }
                ConsoleIO.writeAll(fd, Array((reply + "\n" + greeting).utf8))
                if let relayTo, reply.hasPrefix("OK"), let upstream = try? UnixSocket.connect(path: relayTo) {
                    Thread {
                        try? ConsoleIO.setNonBlocking(fd, target: "vmm client")
                        try? ConsoleIO.setNonBlocking(upstream, target: "vmm upstream")
                        _ = ConsolePump(a: .init(fd: fd, name: "host"), b: .init(fd: upstream, name: "guest")).run()
                        close(upstream)
                        close(fd)
                    }.start()
                } else {
                    close(fd)
                }
            }
        }.start()
    }

    func stop() { listener.stop() }
}

final class VsockHybridTests: XCTestCase {
    func testConnectHandshakeKeepsTheBytesAfterOK() throws {
        let path = ConsoleTestSupport.socketPath("vmm")
        defer { unlink(path) }
        let vmm = try FakeVMM(path: path, reply: "OK 1073741824", greeting: "hello-from-guest")
        defer { vmm.stop() }
        let fd = try VsockHybrid.connect(socketPath: path, port: 1026)
        defer { close(fd) }
        XCTAssertEqual(vmm.handshakes.take(), "CONNECT 1026")
        let (text, _) = ConsoleTestSupport.read(fd) { $0 == "hello-from-guest" }
        XCTAssertEqual(text, "hello-from-guest", "bytes after the OK line were lost or mangled")
    }

    func testVMMClosingIsAClearError() throws {
        let path = ConsoleTestSupport.socketPath("vmmclose")
        defer { unlink(path) }
        let vmm = try FakeVMM(path: path, reply: nil)
        defer { vmm.stop() }
        XCTAssertThrowsError(try VsockHybrid.connect(socketPath: path, port: 1026)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("1026") && text.contains("closed"), text)
        }
    }

    func testRefusalReplyIsAClearError() throws {
        let path = ConsoleTestSupport.socketPath("vmmerr")
        defer { unlink(path) }
        let vmm = try FakeVMM(path: path, reply: "ERR no listener")
        defer { vmm.stop() }
        XCTAssertThrowsError(try VsockHybrid.connect(socketPath: path, port: 1026)) { error in
            XCTAssertTrue("\(error)".contains("ERR no listener"), "\(error)")
        }
    }

    func testNoVMMSocketIsAClearError() {
        XCTAssertThrowsError(try VsockHybrid.connect(socketPath: "/nonexistent/vmm.sock", port: 1026)) { error in
            XCTAssertTrue("\(error)".contains("/nonexistent/vmm.sock"), "\(error)")
        }
    }

    func testVsockListenerErrorNamesThePort() throws {
        // This machine may or may not have an AF_VSOCK transport; either way the outcome is
        // a listener or an error naming the address, never a crash.
        do {
            let listener = try ConsoleListener.vsock(port: 0x7FFF_FF01)
            XCTAssertEqual(listener.name, "vsock -1:\(0x7FFF_FF01)")
        } catch {
            XCTAssertTrue(error.description.contains("vsock -1:\(0x7FFF_FF01)"), error.description)
        }
    }
}
