import Foundation
import CLinuxShim
import Glibc
import Synchronization
@testable import LinuxKit

/// A deadline for awaits in tests: fails instead of hanging when an event never comes.
struct DeadlineExceeded: Error, CustomStringConvertible {
    let what: String
    var description: String { "deadline exceeded waiting for \(what)" }
}

/// Runs `body` in its own task and returns its result, or throws once `seconds` pass; an
/// overdue body is abandoned (reaper waits are not cancellable), so a test fails, not hangs.
func withDeadline<T: Sendable>(_ seconds: Double, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let once = ResumeOnce(continuation)
        Task { @Sendable in
            do { once.finish(.success(try await body())) } catch { once.finish(.failure(error)) }
        }
        Task { @Sendable in
            try? await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
            once.finish(.failure(DeadlineExceeded(what: what)))
        }
    }
}

/// Resumes a continuation with the first result only.
final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>

    init(_ continuation: CheckedContinuation<T, any Error>) {
        self.continuation = Mutex(continuation)
    }

    func finish(_ result: Result<T, any Error>) {
        let pending = continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }
        pending?.resume(with: result)
    }
}

/// A pipe whose ends are closed by the test.
struct TestPipe {
    let read: Int32
    let write: Int32

    init() throws {
        var fds: [Int32] = [0, 0]
        guard core_pipe2(&fds, O_CLOEXEC) == 0 else { throw DeadlineExceeded(what: "pipe") }
        read = fds[0]
        write = fds[1]
    }

    /// Reads until EOF.
    func readAll() -> String {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(read, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Waits (with a deadline) until /proc/<pid> is gone, i.e. the process was reaped.
func waitUntilGone(_ pid: pid_t, seconds: Double = 10) -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if access("/proc/\(pid)", F_OK) != 0 { return true }
        usleep(10_000)
    }
    return false
}
