import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import LinuxKit
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Turns kernel OOM notifications into an AsyncStream, on one dedicated thread per cgroup
/// (the waits are blocking syscalls). The thread ends when the cgroup disappears or the
/// stream's consumer goes away.
enum OOMWatcher {
    /// v2: inotify on memory.events; an event counts when its oom_kill counter grew.
    static func v2(directory: String, path: String, fileSystem: CgroupFileSystem) throws -> AsyncStream<OOMEvent> {
        let eventsFile = directory + "/memory.events"
        let inotifyFD = inotify_init1(Int32(IN_CLOEXEC))
        guard inotifyFD >= 0 else { throw CgroupError.io(operation: "inotify_init1", path: eventsFile, errno: errno) }
        guard inotify_add_watch(inotifyFD, eventsFile, UInt32(IN_MODIFY)) >= 0 else {
            let code = errno
            close(inotifyFD)
            throw CgroupError.io(operation: "inotify_add_watch", path: eventsFile, errno: code)
        }
        // nil: the file is gone (cgroup removed); a missing key (a read racing a rewrite,
        // only seen on ordinary files) counts as no change.
        let oomKills: @Sendable () -> UInt64?? = {
            guard let text = try? fileSystem.read(eventsFile) else { return nil }
            return .some(StatParsing.keyValues(text)["oom_kill"])
        }
        let seen = Counter((oomKills() ?? nil) ?? 0)
        return try stream(watchFD: inotifyFD, path: path) { buffer in
            // IN_IGNORED means the file went away with its cgroup: report what the counter
            // shows (a last kill may share the batch), then end the watch.
            var ignored = false
            var offset = 0
            while offset + 16 <= buffer.count {
                let mask = buffer[offset + 4..<offset + 8].enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (8 * $1.offset) }
                let nameLength = buffer[offset + 12..<offset + 16].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
                if mask & UInt32(IN_IGNORED) != 0 { ignored = true }
                offset += 16 + nameLength
            }
            guard let reading = oomKills() else { return Outcome(events: 0, finished: true) }
            guard let now = reading else { return Outcome(events: 0, finished: ignored) }
            let before = seen.exchange(now)
            return Outcome(events: now > before ? Int(clamping: now - before) : 0, finished: ignored)
        }
    }

    /// v1: an eventfd registered for memory.oom_control through cgroup.event_control. The
    /// kernel also signals it when the cgroup is removed, told apart by event_control vanishing.
    static func v1(directory: String, path: String, fileSystem: CgroupFileSystem) throws -> AsyncStream<OOMEvent> {
        let controlPath = directory + "/memory.oom_control"
        let eventFD = eventfd(0, Int32(EFD_CLOEXEC))
        guard eventFD >= 0 else { throw CgroupError.io(operation: "eventfd", path: controlPath, errno: errno) }
        let controlFD = open(controlPath, O_RDONLY | O_CLOEXEC)
        guard controlFD >= 0 else {
            let code = errno
            close(eventFD)
            throw CgroupError.io(operation: "open", path: controlPath, errno: code)
        }
        defer { close(controlFD) }  // the registration keeps its own reference
        do {
            try fileSystem.write(directory + "/cgroup.event_control", "\(eventFD) \(controlFD)")
        } catch {
            close(eventFD)
            throw error
        }
        return try stream(watchFD: eventFD, path: path) { buffer in
            guard buffer.count >= 8, fileSystem.exists(directory + "/cgroup.event_control") else {
                return Outcome(events: 0, finished: true)
            }
            let count = buffer[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * $1.offset) }
            return Outcome(events: Int(min(count, 1024)), finished: false)
        }
    }

    /// What one wake-up meant: how many OOM events, and whether the watch is over.
    struct Outcome {
        var events: Int
        var finished: Bool
    }

    /// Starts a named thread; `BackgroundThread.tryStart` outside tests.
    typealias ThreadStarter = (String, @escaping @Sendable () -> Void) throws(SyscallError) -> Void

    /// Runs the blocking loop: poll(watchFD, cancelFD) -> read -> interpret -> yield. A thread
    /// that cannot be created (EAGAIN once a container used up the pid or thread limit) fails
    /// this container's watch with the descriptors closed; it must not end the agent.
    static func stream(watchFD: Int32, path: String, startThread: ThreadStarter = BackgroundThread.tryStart,
                       interpret: @escaping @Sendable ([UInt8]) -> Outcome) throws -> AsyncStream<OOMEvent> {
        let cancel = CancelSignal()
        guard cancel.fd >= 0 else {
            close(watchFD)
            throw CgroupError.io(operation: "eventfd (cancel)", path: path, errno: errno)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: OOMEvent.self)
        continuation.onTermination = { _ in cancel.signal() }
        do {
            try startThread("oom-watch \(path)") {
                watch(watchFD: watchFD, path: path, cancel: cancel, continuation: continuation, interpret: interpret)
            }
        } catch {
            close(watchFD)
            cancel.close()
            continuation.finish()
            throw CgroupError.io(operation: "start the OOM watcher thread (pthread_create)", path: path, errno: error.errno)
        }
        return stream
    }

    /// The watcher thread's loop; it closes both descriptors and finishes the stream when it ends.
    private static func watch(watchFD: Int32, path: String, cancel: CancelSignal,
                              continuation: AsyncStream<OOMEvent>.Continuation, interpret: ([UInt8]) -> Outcome) {
        defer {
            close(watchFD)
            cancel.close()
            continuation.finish()
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var fds = [pollfd(fd: watchFD, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: cancel.fd, events: Int16(POLLIN), revents: 0)]
            let ready = poll(&fds, 2, -1)
            if ready < 0 && errno == EINTR { continue }
            if ready < 0 || fds[1].revents != 0 { return }
            let n = buffer.withUnsafeMutableBytes { read(watchFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return }
            let outcome = interpret(Array(buffer[0..<n]))
            for _ in 0..<outcome.events { continuation.yield(OOMEvent(path: path)) }
            if outcome.finished { return }
        }
    }
}

/// An eventfd that wakes the watcher thread; closed once, by the thread, under a lock.
private final class CancelSignal: Sendable {
    private let state: Mutex<Int32>
    let fd: Int32

    init() {
        fd = eventfd(0, Int32(EFD_CLOEXEC))
        state = Mutex(fd)
    }

    func signal() {
        state.withLock { fd in
            guard fd >= 0 else { return }
            var one: UInt64 = 1
            _ = write(fd, &one, 8)
        }
    }

    func close() {
        state.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }
}

/// The last oom_kill count seen, touched only by the watcher thread but captured by a
/// @Sendable closure.
private final class Counter: Sendable {
    private let value: Mutex<UInt64>
    init(_ initial: UInt64) { value = Mutex(initial) }
    func exchange(_ new: UInt64) -> UInt64 {
        value.withLock { old in
            defer { old = new }
            return old
        }
    }
}
