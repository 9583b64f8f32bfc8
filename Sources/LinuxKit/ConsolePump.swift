#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Copies bytes both ways between two byte streams with one poll loop, until one side ends.
///
/// Side A and side B each have an input fd and an output fd (the same fd for a socket, a pty
/// master or a virtio-serial port; stdin and stdout for a terminal client). Fds the caller
/// owns should be non-blocking; a blocking fd (a shared stdin/stdout) still works because
/// every read and write is gated by poll, at worst blocking on a slow stdout.
public struct ConsolePump {
    /// What the pump does when one side's input reaches end of stream.
    public enum EndPolicy: Sendable {
        /// Deliver what was already read from that side to the other, then stop.
        case flushAndStop
        /// Stop reading that side but keep copying the other way until it ends too
        /// (a piped client whose stdin is exhausted still wants the remote's output).
        case keepOtherDirection
    }

    /// Why `run()` returned.
    public enum Outcome: Sendable, Equatable {
        /// Side A's input ended (or its output went away).
        case sideAClosed
        /// Side B's input ended (or its output went away).
        case sideBClosed
        /// The wakeup was raised.
        case stopped
        /// The deadline passed.
        case timedOut
        /// A read, write or poll failed with this errno.
        case failed(SyscallError)
    }

    /// One end of the pump.
    public struct Side: Sendable {
        public var input: Int32
        public var output: Int32
        public var name: String
        public var onEnd: EndPolicy

        public init(input: Int32, output: Int32, name: String, onEnd: EndPolicy = .flushAndStop) {
            self.input = input
            self.output = output
            self.name = name
            self.onEnd = onEnd
        }

        /// A socket, pty master or port: one fd both ways.
        public init(fd: Int32, name: String, onEnd: EndPolicy = .flushAndStop) {
            self.init(input: fd, output: fd, name: name, onEnd: onEnd)
        }
    }

    public let a: Side
    public let b: Side
    let wakeup: ConsoleWakeup?
    let chunkSize: Int

    public init(a: Side, b: Side, wakeup: ConsoleWakeup? = nil, chunkSize: Int = 64 * 1024) {
        self.a = a
        self.b = b
        self.wakeup = wakeup
        self.chunkSize = max(1, chunkSize)
    }

    /// One direction: bytes read from `from.input`, pending for `to.output`.
    private struct Lane {
        var pending: [UInt8] = []
        var offset = 0
        var reading = true
        var hasPending: Bool { offset < pending.count }
    }

    /// Runs until a side ends, the wakeup is raised, or `deadline` (monotonic seconds) passes.
    public func run(deadline: Double? = nil) -> Outcome {
        var ab = Lane()  // A -> B
        var ba = Lane()  // B -> A
        var scratch = [UInt8](repeating: 0, count: chunkSize)
        // Once a side with .flushAndStop ends, the pump only drains the bytes it already read.
        var finishing: Outcome?

        while true {
            if let done = finishing, !ab.hasPending, !ba.hasPending { return done }
            if !ab.reading, !ba.reading, !ab.hasPending, !ba.hasPending {
                return finishing ?? .sideBClosed
            }

            var fds: [pollfd] = []
            var roles: [(lane: Int, write: Bool)] = []
            func watch(_ fd: Int32, _ events: Int32, lane: Int, write: Bool) {
                fds.append(pollfd(fd: fd, events: Int16(events), revents: 0))
                roles.append((lane, write))
            }
            // Lane 0 is A -> B, lane 1 is B -> A; lane 2 is the wakeup.
            if ab.hasPending { watch(b.output, POLLOUT, lane: 0, write: true) }
            else if ab.reading, finishing == nil { watch(a.input, POLLIN, lane: 0, write: false) }
            if ba.hasPending { watch(a.output, POLLOUT, lane: 1, write: true) }
            else if ba.reading, finishing == nil { watch(b.input, POLLIN, lane: 1, write: false) }
            if let wakeup { watch(wakeup.readFD, POLLIN, lane: 2, write: false) }

            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - ConsoleClock.now()
                if left <= 0 { return .timedOut }
                timeout = Int32(min(left * 1000 + 1, Double(Int32.max)))
            }
            let ready = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), timeout) }
            if ready < 0 {
                let err = errno
                if err == EINTR { continue }
                return .failed(SyscallError("poll", target: "\(a.name) <-> \(b.name)", errno: err))
            }
            if ready == 0 { continue }

            for (index, pfd) in fds.enumerated() where pfd.revents != 0 {
                let role = roles[index]
                if role.lane == 2 { return .stopped }
                let from = role.lane == 0 ? a : b
                let to = role.lane == 0 ? b : a
                let closedOutcome: Outcome = role.lane == 0 ? .sideAClosed : .sideBClosed
                let peerClosedOutcome: Outcome = role.lane == 0 ? .sideBClosed : .sideAClosed
                if role.write {
                    var lane = role.lane == 0 ? ab : ba
                    let result = lane.pending.withUnsafeBytes { raw in
                        ConsoleIO.write(to.output, from: UnsafeRawBufferPointer(rebasing: raw[lane.offset...]))
                    }
                    switch result {
                    case let .bytes(n):
                        lane.offset += n
                        if !lane.hasPending { lane.pending.removeAll(keepingCapacity: true); lane.offset = 0 }
                    case .wouldBlock:
                        // A virtio-serial port whose host left reports POLLHUP and EAGAIN for
                        // as long as it stays away: the receiver is gone, not slow.
                        if Int32(pfd.revents) & (POLLHUP | POLLERR) != 0 {
                            return finishing ?? peerClosedOutcome
                        }
                    case .endOfStream:
                        // The receiver is gone: nothing more can be delivered to it.
                        return finishing ?? peerClosedOutcome
                    case let .failed(err):
                        return .failed(SyscallError("write to", target: to.name, errno: err))
                    }
                    if role.lane == 0 { ab = lane } else { ba = lane }
                } else {
                    let result = scratch.withUnsafeMutableBytes { ConsoleIO.read(from.input, into: $0) }
                    var lane = role.lane == 0 ? ab : ba
                    switch result {
                    case let .bytes(n):
                        lane.pending.append(contentsOf: scratch[0..<n])
                    case .wouldBlock:
                        if Int32(pfd.revents) & (POLLHUP | POLLERR) != 0 {
                            lane.reading = false
                            if from.onEnd == .flushAndStop, finishing == nil { finishing = closedOutcome }
                        }
                    case .endOfStream:
                        lane.reading = false
                        if from.onEnd == .flushAndStop, finishing == nil { finishing = closedOutcome }
                    case let .failed(err):
                        return .failed(SyscallError("read from", target: from.name, errno: err))
                    }
                    if role.lane == 0 { ab = lane } else { ba = lane }
                }
            }
        }
    }
}

/// Monotonic seconds, for deadlines (never wall-clock time).
public enum ConsoleClock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
