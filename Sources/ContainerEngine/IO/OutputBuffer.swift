import Foundation
import Synchronization

/// Bytes a container process wrote to stdout or stderr, kept until the runtime reads them.
/// The pump appends; `read` pulls. After `finish()`, reads drain what is left, then return
/// empty data (EOF). The buffer is bounded: when full, the pump stops reading that stream, so
/// only the writing container waits, never the agent or other containers.
public final class OutputBuffer: Sendable {
    /// Above this many unread bytes the pump pauses the stream.
    public static let limit = 16 << 20

    struct State {
        var data = Data()
        var finished = false
        var readers: [CheckedContinuation<Void, Never>] = []
        var spaceWaiters: [@Sendable () -> Void] = []
    }

    let state = Mutex(State())

    public init() {}

    func append(_ bytes: Data) {
        let readers = state.withLock { state in
            state.data.append(bytes)
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.resume() }
    }

    func finish() {
        let readers = state.withLock { state in
            state.finished = true
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.resume() }
    }

    /// Whether the pump may read more now.
    var hasRoom: Bool { state.withLock { $0.data.count < Self.limit } }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// Registers a callback for when a reader frees room (the pump resumes polling).
    func onRoom(_ callback: @escaping @Sendable () -> Void) {
        state.withLock { $0.spaceWaiters.append(callback) }
    }

    /// Up to `maxBytes`, waiting while nothing is buffered and the stream is open.
    /// Empty data means EOF.
    public func read(maxBytes: Int) async -> Data {
        while true {
            enum Step { case data(Data, [@Sendable () -> Void]), eof, wait }
            let step: Step = state.withLock { state in
                if !state.data.isEmpty {
                    let count = min(max(maxBytes, 1), state.data.count)
                    let chunk = Data(state.data.prefix(count))
                    state.data = Data(state.data.dropFirst(count))
                    let waiters = state.spaceWaiters
                    state.spaceWaiters = []
                    return .data(chunk, waiters)
                }
                return state.finished ? .eof : .wait
            }
            switch step {
            case let .data(chunk, waiters):
                for waiter in waiters { waiter() }
                return chunk
            case .eof:
                return Data()
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = state.withLock { state in
                        if !state.data.isEmpty || state.finished { return true }
                        state.readers.append(continuation)
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
        }
    }
}
