import Foundation
import Glibc
import Logging
import XCTest
@testable import LinuxKit

/// Test helpers for the console, pty and serial tests (no test cases here).
enum ConsoleTestSupport {
    /// A short unique socket path (sun_path is 108 bytes).
    static func socketPath(_ tag: String) -> String {
        "/tmp/kc-\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock"
    }

    static var logger: Logger {
        var logger = Logger(label: "console-test")
        logger.logLevel = .debug
        return logger
    }

    /// Reads from `fd` until `done(text)` holds, EOF, or the deadline; returns what was read.
    static func read(
        _ fd: Int32, seconds: Double = 20, until done: (String) -> Bool
    ) -> (text: String, eof: Bool) {
        let deadline = ConsoleClock.now() + seconds
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ConsoleClock.now() < deadline {
            if done(String(decoding: bytes, as: UTF8.self)) { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, (deadline - ConsoleClock.now()) * 1000))
            let ready = poll(&pfd, 1, left)
            if ready <= 0 { continue }
            let n = Glibc.read(fd, &buffer, buffer.count)
            if n > 0 {
                bytes.append(contentsOf: buffer[0..<n])
            } else if n == 0 || (n < 0 && errno == EIO) {
                return (String(decoding: bytes, as: UTF8.self), true)
            } else if errno != EINTR && errno != EAGAIN {
                return (String(decoding: bytes, as: UTF8.self), true)
            }
        }
        return (String(decoding: bytes, as: UTF8.self), false)
    }

    /// Lines of terminal output without carriage returns.
    /// Terminal escape sequences (bash's bracketed-paste toggles, colours) and carriage
    /// returns are separators, so a shell's output line stands alone.
    static func lines(_ text: String) -> [String] {
        let plain = text.replacingOccurrences(
            of: "\u{1B}\\[[0-9;?]*[A-Za-z]", with: "\n", options: .regularExpression)
        return plain.split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "\r\n" })
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func send(_ fd: Int32, _ text: String) {
        XCTAssertTrue(ConsoleIO.writeAll(fd, Array(text.utf8)), "write \(text.debugDescription)")
    }

    /// True when no process (not even a zombie) has this pid.
    static func processGone(_ pid: pid_t) -> Bool {
        kill(pid, 0) == -1 && errno == ESRCH && !FileManager.default.fileExists(atPath: "/proc/\(pid)")
    }
}

/// Collects values handed over from other threads and waits for them with a deadline.
final class ConsoleMailbox<Value: Sendable>: @unchecked Sendable {
    private var values: [Value] = []
    private let condition = NSCondition()

    func put(_ value: Value) {
        condition.lock()
        values.append(value)
        condition.broadcast()
        condition.unlock()
    }

    /// The next value, or nil after `seconds`.
    func take(seconds: Double = 20) -> Value? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock()
        defer { condition.unlock() }
        while values.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        return values.isEmpty ? nil : values.removeFirst()
    }
}
