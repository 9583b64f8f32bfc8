import Foundation
import XCTest

/// The agent's main thread must wait, not end. dispatchMain() ends it with pthread_exit (then
/// parks it in rt_sigsuspend from a thread-exit destructor); that exit's forced unwind makes
/// libgcc sort every FDE of the static binary's .eh_frame on the spot, which was two thirds of
/// the agent's start-up CPU and a third of a second of a TCG guest's boot.
final class AgentMainThreadTests: XCTestCase {
    func testMainThreadWaitsInPause() async throws {
        #if arch(x86_64)
        let pauseSyscall = "34"  // x86_64 pause(2); rt_sigsuspend is 130
        #else
        throw XCTSkip("the syscall number checked here is x86_64's")
        #endif
        let agent = try await AgentProcess.start(for: self)
        guard let pid = agent.pid else { throw XCTSkip("the agent runs in the test process (KATA_AGENT_IN_PROCESS=1)") }
        // /proc/<pid>/task/<tid>/syscall: the number of the syscall the thread is blocked in, then its arguments.
        let syscall = try String(contentsOfFile: "/proc/\(pid)/task/\(pid)/syscall", encoding: .utf8)
        let number = syscall.split(separator: " ").first.map(String.init)
        XCTAssertEqual(number, pauseSyscall, "the agent's main thread is not parked in pause(2): \(syscall)")
    }
}
