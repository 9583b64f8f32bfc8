import OCISpec

/// The OCI lifecycle points hooks run at.
public enum HookKind: String, Sendable, CaseIterable {
    case prestart, createRuntime, createContainer, startContainer, poststart, poststop

    /// The hooks of this kind in `hooks` (empty when absent).
    public func hooks(in hooks: Hooks?) -> [Hook] {
        guard let hooks else { return [] }
        switch self {
        case .prestart: return hooks.prestart ?? []
        case .createRuntime: return hooks.createRuntime ?? []
        case .createContainer: return hooks.createContainer ?? []
        case .startContainer: return hooks.startContainer ?? []
        case .poststart: return hooks.poststart ?? []
        case .poststop: return hooks.poststop ?? []
        }
    }
}

/// How the spec's hooks and the sandbox's guest hooks combine.
public enum HookOrdering {
    /// The spec's hooks with the sandbox's guest hooks appended after the spec's hooks of the
    /// same type. Guest hooks exist for prestart, poststart and poststop only; other kinds in
    /// `guest` are ignored. (Upstream merges guest prestart hooks into poststart when the spec
    /// already has hooks; here each stays with its own type.)
    public static func merged(spec: Hooks?, guest: Hooks?) -> Hooks {
        var out = spec ?? Hooks()
        func append(_ existing: [Hook]?, _ extra: [Hook]?) -> [Hook]? {
            let all = (existing ?? []) + (extra ?? [])
            return all.isEmpty ? existing : all
        }
        out.prestart = append(out.prestart, guest?.prestart)
        out.poststart = append(out.poststart, guest?.poststart)
        out.poststop = append(out.poststop, guest?.poststop)
        return out
    }
}
