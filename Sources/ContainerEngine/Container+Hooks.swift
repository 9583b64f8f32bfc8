import OCISpec

extension Container {
    /// The state document the hooks of one lifecycle step see: `status` as runc reports it at
    /// that step, `pid` the init's pid as the agent sees it.
    func hookState(status: String, pid: Int32?) -> OCISpec.State {
        var state = ociState()
        state.status = status
        state.pid = pid
        return state
    }

    /// Runs the hooks of `kind` (spec's, then the sandbox's) from the agent, in its own
    /// namespaces; the first failure is thrown (prestart and createRuntime fail create).
    func runHooks(_ kind: HookKind, state: OCISpec.State) async throws {
        let hooks = kind.hooks(in: spec.hooks)
        guard !hooks.isEmpty else { return }
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
