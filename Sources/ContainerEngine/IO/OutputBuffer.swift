#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

/// Bytes a container process wrote to stdout or stderr, kept until the runtime reads them.
/// The pump appends; `read` pulls. After `finish()`, reads drain what is left, then return
/// empty data (EOF). The buffer is bounded: when full, the pump stops reading that stream, so
/// only the writing container waits, never the agent or other containers.
public final class OutputBuffer: Sendable {
    /// Above this many unread bytes the pump pauses the stream.
    public static let limit = 16 << 20

    /// Unread bytes as the pump's chunks, consumed from the front. A single `Data` would make
    /// every read shift the whole remainder (16 MiB per 32 KiB read when the reader lags).
    struct State {
        var chunks: [Data] = []
        /// Index of the first unread chunk; consumed chunks are dropped in batches.
        var head = 0
        /// Bytes already read from `chunks[head]`.
        var offset = 0
        var count = 0
        var finished = false
        /// A read returned EOF (empty data after `finished`).
        var eofDelivered = false
        /// Waiting reads by token, so a cancelled one can leave.
        var readers: [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextToken: UInt64 = 0
        var spaceWaiters: [@Sendable () -> Void] = []

        mutating func append(_ bytes: Data) {
            guard !bytes.isEmpty else { return }
            chunks.append(bytes)
            count += bytes.count
        }

        /// Removes and returns up to `maxBytes` from the front.
        mutating func take(_ maxBytes: Int) -> Data {
            var wanted = min(maxBytes, count)
            var out = Data()
            out.reserveCapacity(wanted)
            while wanted > 0 {
                let chunk = chunks[head]
                let start = chunk.startIndex + offset
                let n = min(wanted, chunk.count - offset)
                out.append(chunk[start..<(start + n)])
                wanted -= n
                count -= n
                offset += n
                if offset == chunk.count {
                    head += 1
                    offset = 0
                }
            }
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= chunks.count {
                chunks.removeFirst(head)
                head = 0
            }
            return out
        }
    }

    let state = Mutex(State())

    public init() {}

    func append(_ bytes: Data) {
        let readers = state.withLock { state in
            state.append(bytes)
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.continuation.resume() }
    }

    func finish() {
        let readers = state.withLock { state in
            state.finished = true
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.continuation.resume() }
    }

    /// Drops everything buffered and ends the stream (its process was removed unread): the
    /// memory is freed now, and a pending read returns EOF.
    func discard() {
        let readers = state.withLock { state in
            state.chunks = []
            state.head = 0
            state.offset = 0
            state.count = 0
            state.finished = true
            state.spaceWaiters = []
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.continuation.resume() }
    }

    /// Whether the pump may read more now.
    var hasRoom: Bool { state.withLock { $0.count < Self.limit } }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// A reader was given EOF: the stream's consumer is done with it.
    var reachedEOF: Bool { state.withLock { $0.eofDelivered } }

    /// Registers a callback for when a reader frees room (the pump resumes polling).
    func onRoom(_ callback: @escaping @Sendable () -> Void) {
        state.withLock { $0.spaceWaiters.append(callback) }
    }

    /// Up to `maxBytes`, waiting while nothing is buffered and the stream is open.
    /// Empty data means EOF. A read cancelled while waiting returns empty data and takes
    /// nothing: its caller is gone, and the bytes stay for the next read.
    public func read(maxBytes: Int) async -> Data {
        while true {
            if Task.isCancelled { return Data() }
            enum Step { case data(Data, [@Sendable () -> Void]), eof, wait }
            let step: Step = state.withLock { state in
                if state.count > 0 {
                    let chunk = state.take(max(maxBytes, 1))
                    let waiters = state.spaceWaiters
                    state.spaceWaiters = []
                    return .data(chunk, waiters)
                }
                if state.finished {
                    state.eofDelivered = true
                    return .eof
                }
                return .wait
            }
            switch step {
            case let .data(chunk, waiters):
                for waiter in waiters { waiter() }
                return chunk
            case .eof:
                return Data()
            case .wait:
                let token = state.withLock { state in
                    state.nextToken &+= 1
                    return state.nextToken
                }
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                        let resumeNow = state.withLock { state in
                            // Checked under the lock: a cancellation handler that already ran
                            // found nothing to resume.
                            if state.count > 0 || state.finished || Task.isCancelled { return true }
                            state.readers.append((token, continuation))
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    let reader = state.withLock { state in
                        state.readers.firstIndex { $0.token == token }.map { state.readers.remove(at: $0) }
                    }
                    reader?.continuation.resume()
                }
            }
        }
    }
}
