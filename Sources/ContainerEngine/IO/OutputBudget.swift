import Synchronization

/// The unread output of every container stream together. Past `limit`, a stream may still fill
/// its own `reserve` (a pipe's worth), so a container whose output nobody reads stalls only
/// itself: the agent holds at most `limit` plus one reserve per stream, the same order as the
/// kernel's own pipe buffers, instead of 16 MiB per stream.
public final class OutputBudget: Sendable {
    /// The agent's budget for all streams.
    public static let shared = OutputBudget(limit: 64 << 20, reserve: 64 << 10)

    public let limit: Int
    public let reserve: Int

    private struct State {
        var total = 0
        var waiters: [@Sendable () -> Void] = []
    }
    private let state = Mutex(State())

    public init(limit: Int, reserve: Int) {
        self.limit = limit
        self.reserve = reserve
    }

    /// Bytes buffered by all streams now.
    public var total: Int { state.withLock { $0.total } }

    var available: Bool { state.withLock { $0.total < limit } }

    func add(_ bytes: Int) {
        state.withLock { $0.total += bytes }
    }

    /// Bytes left a buffer (read, or discarded with their container): waiters run once the
    /// total is under the limit again.
    func remove(_ bytes: Int) {
        guard bytes > 0 else { return }
        let waiters = state.withLock { state -> [@Sendable () -> Void] in
            state.total -= bytes
            guard state.total < limit else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter() }
    }

    /// Runs `callback` once the total is under the limit: now, if it already is.
    func onRoom(_ callback: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.total < limit { return true }
            state.waiters.append(callback)
            return false
        }
        if now { callback() }
    }
}
