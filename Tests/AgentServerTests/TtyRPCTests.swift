import Foundation
import GRPCCore
import KataProtocols
import XCTest

/// Root tests: processes with a terminal (process.terminal = true) through the real agent:
/// output through ReadStdout, input through WriteStdin, TtyWinResize seen by `stty size`,
/// CloseStdin ending a `cat` (and an empty WriteStdin, runtime-rs's end of input, ending one on
/// a pipe); and the errors for processes that are not there or have no tty.
final class TtyRPCTests: ContainerRPCTestCase {
    func testExecWithTerminalResizesAndTakesInput() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("tty")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))

        try await rpc.exec(id, "shell", rpc.process(["sh"], terminal: true, consoleSize: (24, 80)))
        try await rpc.write(id, "shell", "[ -t 0 ] && [ -t 1 ] && echo is-a-tty; stty size\n")
        var seen = try await rpc.read(id, "shell", until: "24 80")
        XCTAssertTrue(seen.contains("is-a-tty"), seen)
        // The terminal turns the newlines it writes into CRLF: proof the output went through a tty.
        XCTAssertTrue(seen.contains("24 80\r\n"), seen.debugDescription)

        try await rpc.resize(id, "shell", rows: 50, cols: 132)
        try await rpc.write(id, "shell", "stty size\n")
        seen = try await rpc.read(id, "shell", until: "50 132")
        try await rpc.write(id, "shell", "exit 3\n")
        let status = try await rpc.wait(id, "shell")
        XCTAssertEqual(status, 3)
        _ = try await rpc.readAll(id, "shell")  // the rest, up to EOF

        await rpc.removeQuietly([id])
    }

    func testCloseStdinEndsCatOnATerminal() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("ttycat")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))

        try await rpc.exec(id, "cat", rpc.process(["cat"], terminal: true))
        let written = try await rpc.write(id, "cat", "ping\n")
        XCTAssertEqual(written, 5)
        // Once echoed by the line discipline, once written back by cat.
        let seen = try await rpc.read(id, "cat", until: "ping\r\nping\r\n")
        XCTAssertEqual(seen, "ping\r\nping\r\n")
        try await rpc.closeStdin(id, "cat")
        let status = try await rpc.wait(id, "cat")
        XCTAssertEqual(status, 0, "cat did not see end of input")
        _ = try await rpc.readAll(id, "cat")
        await rpc.removeQuietly([id])
    }

    func testAnEmptyWriteEndsStdinAsRuntimeRsSendsIt() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("eofcat")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))

        try await rpc.exec(id, "cat", rpc.process(["cat"]))
        try await rpc.write(id, "cat", "ping\n")
        let written = try await rpc.write(id, "cat", "")
        XCTAssertEqual(written, 0)
        // Without the end of input cat would wait for more and the wait run into its deadline.
        let status = try await rpc.wait(id, "cat")
        XCTAssertEqual(status, 0, "cat did not see end of input")
        let output = try await rpc.readAll(id, "cat")
        XCTAssertEqual(output, "ping\n")
        await rpc.removeQuietly([id])
    }

    func testContainerInitWithTerminal() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("ttyinit")
        let script = "[ -t 0 ] && echo is-a-tty; stty size; read x; stty size; echo got-$x"
        try await rpc.run(id, spec: rpc.spec(["sh", "-c", script], terminal: true, consoleSize: (30, 100)))
        var seen = try await rpc.read(id, id, until: "30 100")
        XCTAssertTrue(seen.contains("is-a-tty"), seen)
        // The runtime names the init by the exec_id it created the container with.
        try await rpc.resize(id, id, rows: 40, cols: 120)
        try await rpc.write(id, id, "hi\n")
        seen = try await rpc.read(id, id, until: "got-hi", after: seen)
        XCTAssertTrue(seen.contains("40 120"), seen)
        let status = try await rpc.wait(id, id)
        XCTAssertEqual(status, 0)
        _ = try await rpc.readAll(id, id)
        await rpc.removeQuietly([id])
    }

    func testStdioRPCsOnMissingProcessesAndWithoutATerminal() async throws {
        let agent = try await AgentProcess.start(for: self)
        let rpc = ContainerRPCClient(agent: agent, rootfs: rootfs)
        let id = ContainerRPCClient.uniqueID("ttyerr")
        try await rpc.run(id, spec: rpc.spec(["sleep", "1000"]))

        // Upstream answers NOT_FOUND for an unknown exec id; this agent also names it.
        await assertRPCError(.notFound, containing: "no-such-exec") { try await rpc.closeStdin(id, "no-such-exec") }
        await assertRPCError(.notFound, containing: "no-such-exec") { try await rpc.resize(id, "no-such-exec", rows: 10, cols: 10) }
        await assertRPCError(.notFound, containing: "no-such-container") { try await rpc.closeStdin("no-such-container", "x") }
        await assertRPCError(.notFound, containing: "no-such-container") {
            try await rpc.resize("no-such-container", "", rows: 10, cols: 10)
        }
        await assertRPCError(.invalidArgument, containing: "row") { try await rpc.resize(id, "", rows: 70000, cols: 10) }

        // A process without a terminal cannot be resized; upstream answers UNAVAILABLE "no tty".
        try await rpc.exec(id, "plain", rpc.process(["sleep", "1000"]))
        await assertRPCError(.unavailable, containing: "tty") { try await rpc.resize(id, "plain", rows: 10, cols: 10) }
        await assertRPCError(.unavailable, containing: "tty") { try await rpc.resize(id, "", rows: 10, cols: 10) }
        // CloseStdin of a pipe process works, twice (the second is a no-op, as upstream's).
        try await rpc.closeStdin(id, "plain")
        try await rpc.closeStdin(id, "plain")
        await agent.assertServing()
        await rpc.removeQuietly([id])
    }
}
