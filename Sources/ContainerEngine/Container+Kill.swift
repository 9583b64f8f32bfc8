import Glibc
import LinuxKit

extension Container {
    /// Sends `signal` to the init (exec id "") or an exec'd process. A process that already
    /// exited is not an error (the runtime often kills what just ended).
    public func kill(execID: String = "", signal: Int32) throws {
        guard signal > 0 && signal < 65 else {
            throw EngineError(.invalidSpec, "signal", container: id, "signal \(signal) is out of range")
        }
        let target = try process(execID)
        do {
            try engine.reaper.signal(target.pid, signal)
        } catch ReaperError.notRunning {
            logger.debug("signal to an exited process ignored", metadata: ["exec": "\(execID)", "signal": "\(signal)"])
        } catch {
            throw fail("signal", EngineError(.system, "signal \(signal)", container: id, "\(error)"))
        }
    }

    /// Waits for a process's exit status.
    public func wait(execID: String = "") async throws -> Int32 {
        let process = try process(execID)
        let status = await process.wait()
        if !execID.isEmpty {
            process.waitDelivered.withLock { $0 = true }
            releaseExecIfDone(execID)
        }
        return status
    }
}
