#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Serves the agent's log stream on a listener (`agent.log_vport`: vsock CID_ANY:PORT).
///
/// Writers never block: lines are queued and a background thread sends them to the
/// connected reader. Until a reader connects (and between readers) lines are kept, up to
/// `bufferLimit` bytes, oldest whole lines dropped first, so the boot's first lines (the
/// "announce") reach a host that connects late. Upstream instead blocks the agent's start
/// until the host connects; this sink does not. One reader at a time; a new one may connect
/// after the previous one leaves.
public final class VsockLogSink: Sendable {
    struct State {
        var pending: [UInt8] = []
        var dropped = 0
        var stopped = false
    }

    let listener: ConsoleListener
    let bufferLimit: Int
    let state = Mutex(State())
    let notify: ConsoleWakeup
    let done = DispatchSemaphore(value: 0)

    /// Takes ownership of `listener` and starts the sending thread.
    public init(listener: ConsoleListener, bufferLimit: Int = 1 << 20) throws(SyscallError) {
        self.listener = listener
        self.bufferLimit = max(4096, bufferLimit)
        self.notify = try ConsoleWakeup()
        BackgroundThread.start(name: "log-vport") { [self] in
            run()
            done.signal()
        }
    }

    /// Opens the vsock listener for `agent.log_vport`.
    public static func vsock(
        port: UInt32, bufferLimit: Int = 1 << 20, peers: VsockPeerPolicy = .hostOnly
    ) throws(SyscallError) -> VsockLogSink {
        try VsockLogSink(listener: .vsock(port: port, peers: peers), bufferLimit: bufferLimit)
    }

    /// Queues one log line (a newline is added when missing). Never blocks on the reader.
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        if bytes.last != UInt8(ascii: "\n") { bytes.append(UInt8(ascii: "\n")) }
        write(bytes: bytes)
    }

    /// Queues bytes that already end in a newline.
    public func write(bytes: [UInt8]) {
        let limit = bufferLimit
        state.withLock { state in
            guard !state.stopped else { return }
            state.pending.append(contentsOf: bytes)
            if state.pending.count > limit {
                // Drop the oldest whole lines so the reader never sees half a JSON object.
                var cut = state.pending.count - limit
                while cut < state.pending.count, state.pending[cut - 1] != UInt8(ascii: "\n") { cut += 1 }
                state.pending.removeFirst(cut)
                state.dropped += 1
            }
        }
        notify.raise()
    }

    /// Stops the thread and closes the listener (tests; the agent keeps it for its lifetime).
    public func stop() {
        state.withLock { $0.stopped = true }
        listener.stop()
        done.wait()
    }

    private func run() {
        var reader: Int32 = -1
        defer { ConsoleIO.closeQuietly(reader) }
        while true {
            if state.withLock({ $0.stopped }) { return }
            if reader < 0 {
                // accept() also returns nil on stop(); a log write raising `notify` must not
                // end the wait, so only the listener's own stop counts here.
                guard let fd = try? listener.accept() else { return }
                reader = fd
                try? ConsoleIO.setNonBlocking(reader, target: "log reader")
            }
            drainNotify()
            let chunk: [UInt8] = state.withLock { state in Array(state.pending.prefix(64 * 1024)) }
            var fds = [
                pollfd(fd: reader, events: Int16(chunk.isEmpty ? POLLIN : POLLIN | POLLOUT), revents: 0),
                pollfd(fd: notify.readFD, events: Int16(POLLIN), revents: 0),
                pollfd(fd: listener.wakeup.readFD, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 3, -1) < 0 { continue }
            if fds[2].revents != 0 { return }
            let events = Int32(fds[0].revents)
            if events & POLLIN != 0 || events & (POLLHUP | POLLERR) != 0 {
                // A reader sends nothing; readable means it left (or sent junk to discard).
                var scratch = [UInt8](repeating: 0, count: 512)
                let n = scratch.withUnsafeMutableBytes { ConsoleIO.read(reader, into: $0) }
                if case .endOfStream = n { ConsoleIO.closeQuietly(reader); reader = -1; continue }
                if case .failed = n { ConsoleIO.closeQuietly(reader); reader = -1; continue }
            }
            if events & POLLOUT != 0, !chunk.isEmpty {
                let result = chunk.withUnsafeBytes { ConsoleIO.write(reader, from: $0) }
                switch result {
                case let .bytes(n):
                    state.withLock { state in state.pending.removeFirst(min(n, state.pending.count)) }
                case .wouldBlock:
                    break
                case .endOfStream, .failed:
                    ConsoleIO.closeQuietly(reader)
                    reader = -1
                }
            }
        }
    }

    private func drainNotify() {
        var scratch = [UInt8](repeating: 0, count: 256)
        while Glibc.read(notify.readFD, &scratch, scratch.count) > 0 {}
    }
}
