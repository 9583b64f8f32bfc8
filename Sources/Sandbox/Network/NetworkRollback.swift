import LinuxKit
import Logging

/// The undo steps of a network change under way. When a later step fails, the earlier ones are
/// undone in reverse and the error says exactly what was undone and what could not be.
struct NetworkRollback {
    private var steps: [(what: String, undo: () throws(SyscallError) -> Void)] = []

    /// Records how to undo a step that just succeeded.
    mutating func record(_ what: String, _ undo: @escaping () throws(SyscallError) -> Void) {
        steps.append((what, undo))
    }

    /// Undoes every recorded step, newest first; the text reports the outcome.
    func undo(logger: Logger) -> String {
        guard !steps.isEmpty else { return "nothing had been changed" }
        var undone: [String] = [], failed: [String] = []
        for step in steps.reversed() {
            do {
                try step.undo()
                undone.append(step.what)
            } catch {
                failed.append("\(step.what) (\(error))")
                logger.error("network rollback step failed", metadata: ["step": "\(step.what)", "error": "\(error)"])
            }
        }
        if failed.isEmpty { return "rolled back: " + undone.joined(separator: "; ") }
        return "rollback INCOMPLETE: could not undo " + failed.joined(separator: "; ")
            + (undone.isEmpty ? "" : "; undone: " + undone.joined(separator: "; "))
    }

    /// The error for a failed step: what failed, with its errno, then the rollback's outcome.
    func fail(_ context: String, _ error: SyscallError, logger: Logger) -> SandboxError {
        let outcome = undo(logger: logger)
        return SandboxError(.system, "\(context): \(error); \(outcome)", errno: error.errno)
    }
}

/// Turns a failed read of the kernel's tables into the request's error.
func networkDump<T>(_ what: String, _ body: () throws(SyscallError) -> T) throws(SandboxError) -> T {
    do {
        return try body()
    } catch {
        throw SandboxError.system("read \(what)", error)
    }
}
