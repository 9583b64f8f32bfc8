import ContainerEngine
import Logging
import Synchronization

/// The pod's OOM events, as upstream's event channel: each container's memory cgroup is
/// watched from creation, its OOMs queue container ids here, and GetOOMEvent takes them one by
/// one, waiting while there is none. Queueing means an OOM between two GetOOMEvent calls is
/// delivered by the next one, and a cancelled call leaves the queue as it was.
public final class PodOOMEvents: Sendable {
    struct Waiter {
        let token: UInt64
        let continuation: CheckedContinuation<String, any Error>
    }

    struct State {
        var pending: [String] = []
        var waiters: [Waiter] = []
        var nextToken: UInt64 = 0
        var watches: [String: Task<Void, Never>] = [:]
        var closed = false
    }

    private let state = Mutex(State())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Starts feeding the container's OOM events into the queue; a container without a
    /// memory cgroup to watch is logged and skipped.
    func watch(_ container: Container) {
        let id = container.id
        let task: Task<Void, Never>
        do {
            let stream = try container.oomEvents()
            task = Task { [self] in
                for await _ in stream { push(id) }
            }
        } catch {
            logger.info("container OOM events not watched", metadata: ["container": "\(id)", "error": "\(error)"])
            return
        }
        let previous = state.withLock { state in
            defer { state.watches[id] = task }
            return state.watches[id]
        }
        previous?.cancel()
    }

    /// Stops watching the container (before its cgroup goes: removal must not read as an OOM).
    /// Events already queued stay.
    func stopWatching(_ id: String) {
        let task = state.withLock { $0.watches.removeValue(forKey: id) }
        task?.cancel()
    }

    /// Queues an OOM of `id`, or hands it to the oldest waiting caller.
    func push(_ id: String) {
        logger.info("container OOM", metadata: ["container": "\(id)"])
        let waiter: Waiter? = state.withLock { state in
            guard !state.closed else { return nil }
            if state.waiters.isEmpty {
                state.pending.append(id)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.continuation.resume(returning: id)
    }

    /// The id of the next container that hit an OOM; waits until there is one. Throws
    /// CancellationError when the calling task is cancelled, and `SandboxError` once the
    /// sandbox is destroyed.
    public func next() async throws -> String {
        let token = state.withLock { state in
            state.nextToken += 1
            return state.nextToken
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                let now: Result<String, any Error>? = state.withLock { state in
                    if state.closed { return .failure(Self.closedError) }
                    // Checked under the lock: a cancellation handler that ran before this
                    // point found no waiter to resume.
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if !state.pending.isEmpty { return .success(state.pending.removeFirst()) }
                    state.waiters.append(Waiter(token: token, continuation: continuation))
                    return nil
                }
                if let now { continuation.resume(with: now) }
            }
        } onCancel: {
            let waiter: Waiter? = state.withLock { state in
                guard let index = state.waiters.firstIndex(where: { $0.token == token }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    /// DestroySandbox: stops every watch and fails the waiting calls (upstream closes its
    /// channel so that the runtime's GetOOMEvent loop ends).
    func close() {
        let (waiters, watches) = state.withLock { state in
            state.closed = true
            defer { state.waiters = []; state.watches = [:]; state.pending = [] }
            return (state.waiters, Array(state.watches.values))
        }
        for watch in watches { watch.cancel() }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.closedError) }
    }

    static let closedError = SandboxError(.failedPrecondition, "GetOOMEvent: the sandbox was destroyed")
}
