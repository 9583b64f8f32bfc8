import Synchronization

/// The calls one ttrpc connection accepted, handed from its event loop (`push`, `finish`) to
/// its one serve loop (`next`).
///
/// Written for this element type instead of `AsyncStream<TTRPCCall>`: AsyncStream's storage is
/// generic standard-library code that is not specialised for its element, so every call paid
/// for run-time metadata lookups and an unspecialised `Array.removeFirst` on each hand-over
/// (about a tenth of the agent's instructions per Health.Check over ttrpc, under callgrind).
final class TTRPCCallQueue: Sendable {
    private struct State {
        var pending: [TTRPCCall] = []
        /// Index of the first call not yet taken; taken ones are dropped in batches.
        var head = 0
        var finished = false
        /// The consuming task was cancelled: `next` answers nil from then on, as AsyncStream's does.
        var cancelled = false
        var waiter: UnsafeContinuation<TTRPCCall?, Never>?

        /// The next queued call, if any.
        mutating func take() -> TTRPCCall? {
            guard head < pending.count else { return nil }
            let call = pending[head]
            head += 1
            if head == pending.count {
                pending.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= pending.count {
                pending.removeFirst(head)
                head = 0
            }
            return call
        }
    }

    private let state = Mutex(State())

    /// Queues `call` for the serve loop; dropped once the queue is finished or its consumer left.
    func push(_ call: TTRPCCall) {
        let waiter = state.withLock { state -> UnsafeContinuation<TTRPCCall?, Never>? in
            guard !state.finished, !state.cancelled else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.pending.append(call)
            return nil
        }
        waiter?.resume(returning: call)
    }

    /// No more calls come (the connection closed): `next` returns what is queued, then nil.
    func finish() {
        let waiter = state.withLock { state -> UnsafeContinuation<TTRPCCall?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next call; nil once finished and drained, or when the calling task is cancelled.
    /// One caller at a time (the connection's serve loop).
    func next() async -> TTRPCCall? {
        if let call = state.withLock({ $0.cancelled ? nil : $0.take() }) { return call }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<TTRPCCall?, Never>) in
                let answer = state.withLock { state -> TTRPCCall?? in
                    if state.cancelled { return .some(nil) }
                    if let call = state.take() { return .some(call) }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if case let .some(call) = answer { continuation.resume(returning: call) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> UnsafeContinuation<TTRPCCall?, Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
