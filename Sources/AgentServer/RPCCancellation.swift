import GRPCCore

/// gRPC signals a cancelled RPC (client gone, deadline passed, server stopping) through the
/// server context, not by cancelling the handler's task. A long poll that only reacts to task
/// cancellation would keep waiting after its caller left, and could then consume what the next
/// caller should get (a queued OOM event). This runs `body` in a task that both kinds of
/// cancellation cancel.
func cancellableByRPC<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let task = Task { try await body() }
    return try await withRPCCancellationHandler {
        try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    } onCancelRPC: {
        task.cancel()
    }
}
