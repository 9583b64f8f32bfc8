import NIOCore
import NIOPosix

/// Runs the bench's tasks on the event loop that also does the connection's I/O.
///
/// By default every RPC hops between NIO's event loop (socket reads and writes) and Swift's
/// global executor (the awaiting task), several thread wake-ups per call; on a loaded 2-core
/// machine those dominate the client's share of a round trip. One loop for both keeps the
/// client's part of the figure small, so the latency measured is mostly the agent's.
final class EventLoopTaskExecutor: TaskExecutor {
    let loop: any EventLoop

    init(loop: any EventLoop) {
        self.loop = loop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

/// A private one-thread event loop group and a task executor on its loop.
enum BenchEventLoop {
    /// Runs `body` with its tasks preferring the loop that `body`'s connection should use.
    static func run<Result: Sendable>(
        _ body: (any EventLoopGroup) async throws(CtlError) -> Result
    ) async throws(CtlError) -> Result {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let executor = EventLoopTaskExecutor(loop: group.next())
        let result: Swift.Result<Result, CtlError>
        do throws(CtlError) {
            result = .success(try await withTaskExecutorPreference(executor) { () async throws(CtlError) -> Result in
                try await body(group)
            })
        } catch {
            result = .failure(error)
        }
        // The loop's thread would otherwise outlive the command; a failure here changes nothing measured.
        try? await group.shutdownGracefully()
        return try result.get()
    }
}
