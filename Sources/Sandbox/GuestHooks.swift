import LinuxKit

/// One hook found under guest_hook_path: run with args [path, hook-type] and the OCI state
/// on stdin by the container code.
public struct GuestHook: Sendable, Equatable {
    public var path: String
    public var arguments: [String]

    public init(path: String, arguments: [String]) {
        self.path = path
        self.arguments = arguments
    }
}

/// The guest hooks of a sandbox, by OCI hook type.
public struct GuestHooks: Sendable, Equatable {
    public var prestart: [GuestHook] = []
    public var poststart: [GuestHook] = []
    public var poststop: [GuestHook] = []

    public init(prestart: [GuestHook] = [], poststart: [GuestHook] = [], poststop: [GuestHook] = []) {
        self.prestart = prestart
        self.poststart = poststart
        self.poststop = poststop
    }

    public var isEmpty: Bool { prestart.isEmpty && poststart.isEmpty && poststop.isEmpty }

    /// Scans `<root>/{prestart,poststart,poststop}` for regular, executable, non-symlink
    /// files, in lexicographic (byte) order, as upstream documents (upstream itself uses
    /// directory order). A missing type directory means no hooks of that type.
    public static func scan(root: String, system: any SystemCalls) -> GuestHooks {
        func hooks(_ type: String) -> [GuestHook] {
            let directory = root.hasSuffix("/") ? root + type : root + "/" + type
            guard system.fileKind(directory)?.kind == .directory,
                  let names = try? system.listDirectory(directory) else { return [] }
            return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.compactMap { name in
                let path = directory + "/" + name
                guard let kind = system.fileKind(path), kind.isExecutableFile else { return nil }
                return GuestHook(path: path, arguments: [path, type])
            }
        }
        return GuestHooks(prestart: hooks("prestart"), poststart: hooks("poststart"), poststop: hooks("poststop"))
    }
}
