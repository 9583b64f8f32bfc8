import Synchronization

/// Whether a call's OK answer reached its connection. ttrpc has no acknowledgement, but the
/// server knows when it could not write an answer: the client left first (connection closed,
/// deadline passed) or the write failed. A handler that hands out something nobody else can get
/// again (ReadStdout's bytes) keeps it until told, so a client that left mid-call loses nothing
/// for the client after it. What the kernel accepted for a peer that then died is beyond this.
public final class WireDelivery: Sendable {
    /// The delivery of the call the current task serves; nil where the transport does not tell
    /// (the gRPC codec): handlers then treat their answer as delivered, as before.
    @TaskLocal public static var current: WireDelivery?

    private enum Outcome: Equatable {
        case pending
        /// The answer is being written; only the write's result settles it now.
        case answering
        case delivered
        case undelivered
    }

    private struct State {
        var outcome = Outcome.pending
        var callbacks: [@Sendable (Bool) -> Void] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Calls `body` once with whether the OK answer was written to the connection; at once when
    /// that is already known. `body` may run on the connection's event loop: keep it short.
    public func onOutcome(_ body: @escaping @Sendable (Bool) -> Void) {
        let known: Bool? = state.withLock { state in
            switch state.outcome {
            case .pending, .answering:
                state.callbacks.append(body)
                return nil
            case .delivered:
                return true
            case .undelivered:
                return false
            }
        }
        if let known { body(known) }
    }

    /// Whether anyone waits for the outcome. When nobody does by the time the answer is written
    /// (the handler registers before it returns), the write needs no completion promise.
    var isAwaited: Bool {
        state.withLock { !$0.callbacks.isEmpty }
    }

    /// The OK answer was handed to the channel; its write's result follows through `settle`.
    func answering() {
        state.withLock { state in
            if state.outcome == .pending { state.outcome = .answering }
        }
    }

    /// Records the outcome once; later calls change nothing.
    func settle(delivered: Bool) {
        settle(delivered: delivered, onlyIfUnanswered: false)
    }

    /// The call ended without an answer being written (or being on its way): nothing was delivered.
    func settleIfUnanswered() {
        settle(delivered: false, onlyIfUnanswered: true)
    }

    private func settle(delivered: Bool, onlyIfUnanswered: Bool) {
        let callbacks = state.withLock { state -> [@Sendable (Bool) -> Void] in
            switch state.outcome {
            case .pending: break
            case .answering: if onlyIfUnanswered { return [] }
            case .delivered, .undelivered: return []
            }
            state.outcome = delivered ? .delivered : .undelivered
            defer { state.callbacks = [] }
            return state.callbacks
        }
        for callback in callbacks { callback(delivered) }
    }
}
