#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import LinuxKit
import NIOCore
import Synchronization

/// One thread that drains every container output fd into its `OutputBuffer` with poll(2), so
/// output never waits for a reader. A stream ends at EOF/EIO, or when its process exited and
/// the fd has nothing more (`drainAndClose`): a background process that keeps the pipe open
/// cannot hold the stream open forever.
public final class OutputPump: Sendable {
    /// One drained stream. Streams are keyed by this identity, never by fd number: a number is
    /// reused as soon as the pump closes it, and a late `processExited` or resume aimed at the
    /// old stream would otherwise end or unpause another container's output.
    public struct Stream: Hashable, Sendable {
        let id: UInt64
    }

    struct Entry {
        let fd: Int32
        let buffer: OutputBuffer
        var paused = false
        /// Set once the process exited: stop at the first "nothing more" instead of waiting.
        var exitDeadline: ContinuousClock.Instant?
    }

    struct State {
        var entries: [Stream: Entry] = [:]
        var nextID: UInt64 = 0
    }

    let state = Mutex(State())
    let wakeRead: Int32
    let wakeWrite: Int32

    /// The process-wide pump.
    public static let shared = OutputPump()

    init() {
        var fds: [Int32] = [0, 0]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, O_NONBLOCK)
            }
        } else {
            fds = [-1, -1]
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
        BackgroundThread.start(name: "kata-output-pump") { [self] in self.run() }
    }

    /// Starts draining `fd` (which the pump now owns and closes at the end) into `buffer`.
    func add(fd: Int32, buffer: OutputBuffer) -> Stream {
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        let stream = state.withLock { state in
            state.nextID += 1
            let stream = Stream(id: state.nextID)
            state.entries[stream] = Entry(fd: fd, buffer: buffer)
            return stream
        }
        wake()
        return stream
    }

    /// The writer exited: read what is left (waiting up to `grace` for a PTY's last bytes,
    /// which the kernel delivers asynchronously), then EOF.
    func processExited(_ stream: Stream, grace: Duration = .seconds(2)) {
        state.withLock { state in
            state.entries[stream]?.exitDeadline = ContinuousClock.now.advanced(by: grace)
        }
        wake()
    }

    /// Nobody will read this stream any more (its process was removed): stop draining, close
    /// its fd and drop what it buffered, so unread output of a removed container frees its
    /// memory and descriptor. A paused writer then gets EPIPE/EIO instead of blocking forever.
    func discard(_ stream: Stream) {
        guard let entry = state.withLock({ $0.entries.removeValue(forKey: stream) }) else { return }
        close(entry.fd)
        entry.buffer.discard()
        wake()
    }

    func wake() {
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    private func run() {
        var buffer = ReadBlock()
        while true {
            let snapshot = state.withLock { state in state.entries.map { ($0.key, $0.value) } }
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            var timeout: Int32 = -1
            let now = ContinuousClock.now
            var streams: [Stream] = []
            for (stream, entry) in snapshot where !entry.paused {
                fds.append(pollfd(fd: entry.fd, events: Int16(POLLIN), revents: 0))
                streams.append(stream)
                if let deadline = entry.exitDeadline {
                    // Exited writers are revisited soon, to notice "nothing more" without POLLHUP.
                    let left = now < deadline ? 20 : 0
                    timeout = timeout < 0 ? Int32(left) : min(timeout, Int32(left))
                }
            }
            let ready = poll(&fds, nfds_t(fds.count), timeout)
            if ready < 0 && errno != EINTR { continue }
            var drain = [UInt8](repeating: 0, count: 64)
            while Glibc.read(wakeRead, &drain, drain.count) > 0 {}
            for (item, stream) in zip(fds.dropFirst(), streams) {
                service(stream, revents: item.revents, scratch: &buffer)
            }
        }
    }

    private func service(_ stream: Stream, revents: Int16, scratch: inout ReadBlock) {
        // A stream discarded since the snapshot has had its fd closed (and maybe reused).
        guard let entry = state.withLock({ $0.entries[stream] }) else { return }
        let fd = entry.fd
        var ended = false
        // Bounded reads per wake-up keep one chatty stream from starving the others.
        for _ in 0..<16 {
            guard entry.buffer.hasRoom else {
                pause(stream, entry: entry)
                return
            }
            let n = scratch.read(fd)
            if n > 0 {
                entry.buffer.append(scratch.take(n))
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                if let deadline = entry.exitDeadline {
                    // A pipe with nothing more after exit is done; a PTY gets its grace time.
                    if !isPTY(fd) || ContinuousClock.now >= deadline { ended = true }
                }
                break
            }
            ended = true  // EOF, or EIO from a PTY whose slave side is gone
            break
        }
        if ended {
            // Only the pump thread closes a serviced fd, and only if discard did not take it first.
            guard state.withLock({ $0.entries.removeValue(forKey: stream) }) != nil else { return }
            close(fd)
            entry.buffer.finish()
        }
    }

    private func pause(_ stream: Stream, entry: Entry) {
        state.withLock { $0.entries[stream]?.paused = true }
        entry.buffer.onRoom { [self] in
            self.state.withLock { $0.entries[stream]?.paused = false }
            self.wake()
        }
    }

    private func isPTY(_ fd: Int32) -> Bool {
        isatty(fd) == 1
    }
}

/// The pump's read buffer, handed over whole when a read filled most of it: a busy stream's
/// bytes then reach the OutputBuffer, and from there the reader's socket, with the kernel's
/// copies alone (a copy out of a scratch array into fresh memory was a second pass over every
/// byte: a tenth of the agent's perf samples draining a fast writer).
/// Shorter reads are copied out at their size and the block is kept, so a chatty writer's small
/// chunks never each hold a whole block.
struct ReadBlock {
    static let size = 65536
    /// Reads at least this long take the block; shorter ones are copied out. A handed-over
    /// block keeps its whole allocation: at three quarters, a quarter at most is held unused.
    static let handOverAt = size - size / 4
    private var block = ByteBufferAllocator().buffer(capacity: Self.size)

    /// read(2) into the block: the byte count, or -1 with errno.
    mutating func read(_ fd: Int32) -> Int {
        block.clear()
        var result = 0
        var error: Int32 = 0
        block.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.size) { space in
            result = Glibc.read(fd, space.baseAddress, Self.size)
            error = errno
            return max(result, 0)
        }
        errno = error
        return result
    }

    /// The first `count` bytes just read; the block itself when the read was long.
    mutating func take(_ count: Int) -> ByteBuffer {
        guard count >= Self.handOverAt else {
            var copy = ByteBufferAllocator().buffer(capacity: count)
            copy.writeImmutableBuffer(block.getSlice(at: block.readerIndex, length: count) ?? ByteBuffer())
            return copy
        }
        let taken = block.getSlice(at: block.readerIndex, length: count) ?? block
        block = ByteBufferAllocator().buffer(capacity: Self.size)
        return taken
    }
}
