import LinuxKit
import Logging

/// Guest uptime at each of PID 1's start-up steps, logged once as the "startup" line before the
/// server starts: where a guest's boot goes (under TCG each step costs tens of milliseconds,
/// mostly its code's first translation), on the printk stamps' clock.
struct StartupTimeline {
    private var steps: [(name: String, milliseconds: Double)] = []

    /// `exec` is when the process's first constructor ran, `main` when Swift's main began.
    init(execMilliseconds: Double, mainMilliseconds: Double) {
        steps = [("exec", execMilliseconds), ("main", mainMilliseconds)]
    }

    /// Records that `step` just finished.
    mutating func mark(_ step: String) {
        steps.append((step, BootClock.milliseconds()))
    }

    /// `<step>_uptime_ms` for every step, then `uptime_ms` for now.
    var metadata: Logger.Metadata {
        var metadata: Logger.Metadata = [:]
        for step in steps { metadata["\(step.name)_uptime_ms"] = "\(BootClock.text(step.milliseconds))" }
        metadata["uptime_ms"] = "\(BootClock.text(BootClock.milliseconds()))"
        return metadata
    }
}
