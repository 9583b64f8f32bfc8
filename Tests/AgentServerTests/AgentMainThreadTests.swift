import Foundation
import XCTest

/// The main threads of kata-agent and kata-agent-ctl must wait, not end. dispatchMain() (and
/// Swift's async entry point, which calls it) ends the main thread with pthread_exit, then parks
/// it in rt_sigsuspend from a thread-exit destructor; that exit's forced unwind makes libgcc sort
/// every FDE of the static binary's .eh_frame on the spot, which was two thirds of the agent's
/// start-up CPU and a third of a second of a TCG guest's boot.
final class AgentMainThreadTests: XCTestCase {
    #if arch(x86_64)
    private static let pauseSyscall = "34"  // x86_64 pause(2); rt_sigsuspend is 130
    private static let sigsuspendSyscall = "130"
    #endif

    /// The syscall `pid`'s main thread is blocked in, from /proc/<pid>/task/<pid>/syscall
    /// ("running" while it runs).
    private static func mainThreadSyscall(_ pid: pid_t) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/syscall", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
    }

    func testAgentMainThreadWaitsInPause() async throws {
        #if arch(x86_64)
        let agent = try await AgentProcess.start(for: self)
        guard let pid = agent.pid else { throw XCTSkip("the agent runs in the test process (KATA_AGENT_IN_PROCESS=1)") }
        XCTAssertEqual(Self.mainThreadSyscall(pid), Self.pauseSyscall, "the agent's main thread is not parked in pause(2)")
        #else
        throw XCTSkip("the syscall numbers checked here are x86_64's")
        #endif
    }

    func testCtlMainThreadWaitsInPause() async throws {
        #if arch(x86_64)
        let agent = try await AgentProcess.start(for: self)
        let binary = AgentCtl.binaryPath
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw XCTSkip("kata-agent-ctl not found at \(binary)")
        }
        // A long poll without a deadline keeps the command running while its main thread is read.
        let ctl = Process()
        ctl.executableURL = URL(fileURLWithPath: binary)
        ctl.arguments = ["--server-addr", "unix://" + agent.socketPath, "--timeout", "0", "call", "GetOOMEvent"]
        ctl.standardOutput = FileHandle.nullDevice
        ctl.standardError = FileHandle.nullDevice
        try ctl.run()
        defer {
            kill(ctl.processIdentifier, SIGKILL)
            ctl.waitUntilExit()
        }
        // Polling is the synchronisation here: the main thread settles in one of the two waits
        // once start-up is over; the deadline only bounds a broken binary.
        let deadline = ContinuousClock.now + .seconds(60)
        var seen: String?
        while ContinuousClock.now < deadline {
            seen = Self.mainThreadSyscall(ctl.processIdentifier)
            if seen == Self.pauseSyscall || seen == Self.sigsuspendSyscall { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        XCTAssertEqual(seen, Self.pauseSyscall, "kata-agent-ctl's main thread is not parked in pause(2)")
        #else
        throw XCTSkip("the syscall numbers checked here are x86_64's")
        #endif
    }
}
