#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Where formatted log lines go: stdout, a vsock connection (agent.log_vport), a test buffer.
public protocol LogSink: Sendable {
    /// Writes one complete line (without its trailing newline). Must not block for long and
    /// must never throw: logging cannot fail the agent.
    func write(line: String)
}

/// Writes lines to a file descriptor (stdout by default), whole lines under a lock.
public final class FileDescriptorLogSink: LogSink {
    private let fd: Int32
    private let lock = Mutex(())

    public init(fd: Int32 = 1) {
        self.fd = fd
    }

    public func write(line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        lock.withLock { _ in
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer in
                    Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                }
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else {
                    return  // EAGAIN, EPIPE, closed: drop the line rather than block the agent
                }
            }
        }
    }
}

/// Keeps lines in memory (tests, and early lines before a log_vport client connects).
public final class MemoryLogSink: LogSink {
    private let storage = Mutex<[String]>([])

    public init() {}

    public func write(line: String) {
        storage.withLock { $0.append(line) }
    }

    /// The lines written so far.
    public var lines: [String] { storage.withLock { $0 } }
}

/// A sink whose destination can change while the agent runs: the console engineer attaches a
/// vsock connection for agent.log_vport. Without a destination it buffers up to `bufferLimit`
/// bytes (oldest lines dropped first) so the first lines of a boot reach the first client.
public final class RedirectableLogSink: LogSink {
    private struct State {
        var target: (any LogSink)?
        var buffer: [String] = []
        var bufferedBytes = 0
    }

    private let state: Mutex<State>
    private let bufferLimit: Int

    /// - Parameters:
    ///   - target: the initial destination; nil buffers until `redirect(to:)`.
    ///   - bufferLimit: bytes kept while there is no destination.
    public init(target: (any LogSink)?, bufferLimit: Int = 1 << 20) {
        state = Mutex(State(target: target))
        self.bufferLimit = bufferLimit
    }

    public func write(line: String) {
        let target: (any LogSink)? = state.withLock { state in
            if let target = state.target { return target }
            state.buffer.append(line)
            state.bufferedBytes += line.utf8.count + 1
            while state.bufferedBytes > bufferLimit, !state.buffer.isEmpty {
                state.bufferedBytes -= state.buffer.removeFirst().utf8.count + 1
            }
            return nil
        }
        target?.write(line: line)
    }

    /// Sends future lines (and any buffered ones first) to `target`; nil starts buffering.
    public func redirect(to target: (any LogSink)?) {
        let pending: [String] = state.withLock { state in
            state.target = target
            guard target != nil else { return [] }
            defer {
                state.buffer = []
                state.bufferedBytes = 0
            }
            return state.buffer
        }
        for line in pending { target?.write(line: line) }
    }
}
