import CLinuxShim
import Glibc
import LinuxKit
import Synchronization

/// The agent's handle on its init zygote: one warm `kata-agent init-zygote` process that
/// clones container inits instead of the agent re-executing itself for each (a cold Swift
/// process spends about 2 ms starting and decoding its first spec; see engine_zygote.c).
///
/// Started at the first launch. Whenever it is missing or fails, launches fall back to the
/// direct clone + exec (`engine_spawn`), so a dead zygote costs time, never a container; after
/// `maxFailures` it is not started again.
final class InitZygote: Sendable {
    static let maxFailures = 3

    private struct State {
        var control: Int32 = -1
        var pid: pid_t = 0
        var starting = false
        var failures = 0
    }

    private let state = Mutex(State())
    let enabled: Bool
    let answerTimeoutMilliseconds: Int32

    init(enabled: Bool, answerTimeoutMilliseconds: Int32) {
        self.enabled = enabled
        self.answerTimeoutMilliseconds = answerTimeoutMilliseconds
    }

    deinit {
        state.withLock { state in
            if state.control >= 0 { close(state.control) }
        }
    }

    /// The zygote's pid while one is running (tests).
    var pid: pid_t? {
        state.withLock { $0.control >= 0 ? $0.pid : nil }
    }

    /// Starts the zygote unless it runs, is starting, or gave up. Call outside the reaper's
    /// lock: the zygote itself is a child registered with the reaper.
    func startIfNeeded(engine: Engine) {
        guard enabled else { return }
        let claimed = state.withLock { state in
            guard state.control < 0, !state.starting, state.failures < Self.maxFailures else { return false }
            state.starting = true
            return true
        }
        guard claimed else { return }
        var control: Int32 = -1
        var pid: pid_t = 0
        defer {
            state.withLock { state in
                state.starting = false
                if control >= 0 {
                    state.control = control
                    state.pid = pid
                } else {
                    state.failures += 1
                }
            }
        }
        guard let exe = try? engine.initExecutableFD() else { return }
        var pair: [Int32] = [-1, -1]
        guard pair.withUnsafeMutableBufferPointer({ engine_seqpacket_pair($0.baseAddress) }) == 0 else { return }
        defer { close(pair[1]) }
        pid = spawnZygote(exe: exe, engine: engine, control: pair[1])
        guard pid > 0 else {
            engine.logger.warning("init zygote not started: containers start without it", metadata: ["errno": "\(-pid)"])
            close(pair[0])
            return
        }
        _ = engine_set_recv_timeout(pair[0], answerTimeoutMilliseconds)
        control = pair[0]
    }

    /// Clones an init through the zygote: its pid or -errno, or nil when there is no usable
    /// zygote (the caller spawns directly). A zygote that took the request and never answered
    /// fails the launch instead: a clone of it may hold the launch's descriptors. Call inside
    /// the reaper's `spawn`, which registers the returned pid (the child is the agent's through
    /// CLONE_PARENT).
    func spawn(_ config: inout engine_spawn_config, engine: Engine) -> pid_t? {
        guard enabled else { return nil }
        return state.withLock { state -> pid_t? in
            guard state.control >= 0 else { return nil }
            var failed: Int32 = 0
            let pid = engine_zygote_spawn(state.control, &config, &failed)
            guard failed == 0 else {
                // Dead or stuck: drop it (the reaper collects it) and start afresh next time.
                engine.logger.warning(
                    failed == 1 ? "init zygote gone; starting this container without it"
                        : "init zygote did not answer; this launch fails, the next one starts a new zygote",
                    metadata: ["zygote": "\(state.pid)", "errno": "\(-pid)"])
                // We run under the reaper's lock, so the zygote cannot have been reaped and its
                // pid reused: a plain kill reaches the zygote.
                if state.pid > 0 { _ = kill(state.pid, SIGKILL) }
                close(state.control)
                state.control = -1
                state.failures += 1
                return failed == 1 ? nil : pid
            }
            return pid
        }
    }

    /// Stops a running zygote without counting a failure (its executable is not to be used
    /// any more); the next launch starts one from the executable current then.
    func retire(engine: Engine) {
        let (pid, control) = state.withLock { state -> (pid_t, Int32) in
            defer { state.control = -1 }
            return (state.pid, state.control)
        }
        guard control >= 0 else { return }
        // The zygote exits at EOF on its control socket; the kill makes sure, through the
        // reaper so a pid reused after the zygote was reaped is never signalled.
        close(control)
        try? engine.reaper.signal(pid, SIGKILL)
    }

    private func spawnZygote(exe: Int32, engine: Engine, control: Int32) -> pid_t {
        engine.reaper.spawn { () -> pid_t in
            InitLauncher.withSpawnConfig(
                exe: exe, command: "init-zygote", stdio: (-1, -1, -1), sync: control, flags: 0, pidns: -1,
                uidMap: "", gidMap: ""
            ) { engine_spawn(&$0) }
        }
    }
}
