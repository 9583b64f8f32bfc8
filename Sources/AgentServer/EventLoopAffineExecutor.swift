import NIOCore
import NIOPosix

/// Runs the gRPC server's own tasks (stream handling, Health) on NIO's event loops.
///
/// By default each RPC's tasks run on Swift's global executor while its socket I/O runs on an
/// event loop, so reading the request and writing the response each cost a thread wake-up.
/// With this preference a task resumed by its connection's loop stays on that loop. Domain code
/// does not run here: `serveRPC` moves each AgentService body back to the global executor, so
/// a blocking syscall in a handler never stalls a loop's I/O.
final class EventLoopAffineExecutor: TaskExecutor {
    let group: MultiThreadedEventLoopGroup

    init(group: MultiThreadedEventLoopGroup) {
        self.group = group
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        // Sticky: a job enqueued from a loop thread (a read completing) runs on that loop.
        let loop = MultiThreadedEventLoopGroup.currentEventLoop ?? group.next()
        loop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
