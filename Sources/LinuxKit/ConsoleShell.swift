import CLinuxShim
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The debug console's shell: which one, and starting it on a terminal under the reaper.
public enum ConsoleShell {
    /// Upstream's search order.
    public static let defaultCandidates = ["/bin/bash", "/bin/sh"]

    /// The first candidate that is an executable file, or nil.
    public static func find(candidates: [String] = defaultCandidates) -> String? {
        candidates.first { access($0, X_OK) == 0 && !isDirectory($0) }
    }

    /// The log line when no candidate exists: says what was looked for.
    public static func missingMessage(candidates: [String] = defaultCandidates) -> String {
        "debug console disabled: no shell found (looked for \(candidates.joined(separator: ", ")))"
    }

    private static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Forks and execs `path` with `tty` as fds 0/1/2 (all other fds closed) through the C shim,
    /// registered with `reaper` before it can exit unseen. `newSession`: setsid and make `tty`
    /// the controlling terminal (a pty slave); without it the child stays in the agent's
    /// session (the shell on /dev/console).
    public static func spawn(
        path: String, arguments: [String], environment: [String], tty: Int32,
        newSession: Bool, reaper: Reaper
    ) throws(SyscallError) -> pid_t {
        for text in [path] + arguments + environment where text.utf8.contains(0) {
            throw SyscallError("spawn", target: path, errno: 0, detail: "an argument or environment entry contains a NUL byte")
        }
        let argv = arguments.isEmpty ? [path] : arguments
        let result: pid_t = withCStringArray(argv) { cArgv in
            withCStringArray(environment) { cEnv in
                reaper.spawn { () -> pid_t in
                    console_spawn_on_tty(path, cArgv, cEnv, tty, newSession ? 1 : 0)
                }
            }
        }
        return try SyscallError.check(result, "spawn shell", target: path)
    }

    /// The agent's environment for the shell, with a TERM the bridge's pty can honour.
    public static func environment(base: [String: String] = ProcessEnvironment.current()) -> [String] {
        var env = base
        if env["TERM"] == nil { env["TERM"] = "vt100" }
        if env["PATH"] == nil { env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" }
        return env.map { "\($0.key)=\($0.value)" }.sorted()
    }

    /// Blocks the calling (non-cooperative) thread until the reaper reports `pid`'s exit status.
    public static func waitBlocking(_ pid: pid_t, reaper: Reaper) -> Result<Int32, any Error> {
        let box = ConsoleResultBox()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do { box.set(.success(try await reaper.wait(pid))) } catch { box.set(.failure(error)) }
            done.signal()
        }
        done.wait()
        return box.get() ?? .failure(SyscallError("wait for", target: "pid \(pid)", errno: ECHILD))
    }
}

/// A one-shot result handed from a task to a waiting thread.
final class ConsoleResultBox: Sendable {
    private let value = Mutex<Result<Int32, any Error>?>(nil)

    func set(_ result: Result<Int32, any Error>) { value.withLock { $0 = result } }
    func get() -> Result<Int32, any Error>? { value.withLock { $0 } }
}

/// Calls `body` with a NULL-terminated C array of copies of `strings`, freed afterwards.
func withCStringArray<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (index, string) in strings.enumerated() {
        (array + index).initialize(to: strdup(string))
    }
    (array + strings.count).initialize(to: nil)
    defer {
        for index in 0..<strings.count { free(array[index]) }
        array.deinitialize(count: strings.count + 1)
        array.deallocate()
    }
    return body(UnsafePointer(array))
}
