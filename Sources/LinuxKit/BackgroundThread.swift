import CLinuxShim
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Starts named, detached POSIX threads for blocking loops; FoundationEssentials has no `Thread`,
/// and the agent stays off full Foundation (it would link ICU).
public enum BackgroundThread {
    /// Runs `body` on a new detached thread named `name` (truncated to the kernel's 15 bytes).
    /// A thread that cannot be created ends the agent, as Foundation's `Thread.start()` did:
    /// every caller is a loop the agent cannot run without.
    public static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        do {
            try tryStart(name: name, body)
        } catch {
            fatalError("\(error)")
        }
    }

    /// Like `start`, but a thread that cannot be created (EAGAIN: the pid or memory limits, say
    /// a fork bomb in a container) is an error for the caller's request, not the agent's end.
    public static func tryStart(name: String, _ body: @escaping @Sendable () -> Void) throws(SyscallError) {
        let context = Unmanaged.passRetained(Context(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let context = Unmanaged<BackgroundThread.Context>.fromOpaque(raw).takeRetainedValue()
            // PR_SET_NAME names the calling thread; the kernel truncates to 15 bytes itself.
            _ = context.name.withCString { engine_prctl(15 /* PR_SET_NAME */, UInt(bitPattern: $0)) }
            context.body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Context>.fromOpaque(context).release()
            throw SyscallError("pthread_create", target: "thread \(name)", errno: rc)
        }
        _ = pthread_detach(thread)
    }

    private final class Context: Sendable {
        let name: String
        let body: @Sendable () -> Void
        init(name: String, body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }
}
