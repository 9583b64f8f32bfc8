import OCISpec

extension Container {
    /// Runs the spec's hooks of `kind` with the container's state on stdin; the first failure
    /// is thrown (create-time and startContainer hooks fail their step).
    func runHooks(_ kind: HookKind, status: String) async throws {
        let hooks = kind.hooks(in: spec.hooks)
        guard !hooks.isEmpty else { return }
        var state = ociState()
        state.status = status
        do {
            try await HookRunner(reaper: engine.reaper).run(hooks, kind: kind, state: state)
        } catch {
            throw EngineError(.system, "\(kind.rawValue) hook", container: id, "\(error)")
        }
    }

    /// poststart/poststop: every hook runs; failures are logged, as the runtime spec asks.
    func runHooksLoggingFailures(_ kind: HookKind, status: String) async {
        let hooks = kind.hooks(in: spec.hooks)
        guard !hooks.isEmpty else { return }
        var state = ociState()
        state.status = status
        for failure in await HookRunner(reaper: engine.reaper).runAll(hooks, kind: kind, state: state) {
            logger.warning("\(kind.rawValue) hook failed", metadata: ["error": "\(failure)"])
        }
    }
}
