import Glibc

/// The module graph of one kernel: modules.dep, modules.alias and modules.builtin under
/// /lib/modules/<release> (or a test fixture root).
public struct KernelModuleIndex: Sendable {
    /// A module file and the modules it needs.
    public struct Entry: Sendable, Equatable {
        /// Absolute path of the .ko / .ko.xz / .ko.zst / .ko.gz.
        public var path: String
        /// Normalised names of its direct dependencies.
        public var dependencies: [String]
    }

    /// The directory holding modules.dep.
    public let directory: String
    public let modules: [String: Entry]
    /// (pattern, module name) from modules.alias, in file order.
    public let aliases: [(pattern: String, module: String)]
    public let builtin: Set<String>

    /// Reads the index files; modules.dep must exist, the others are optional.
    public static func load(directory: String, system: any SystemCalls) throws(KernelModuleError) -> KernelModuleIndex {
        let depText: String
        do {
            depText = try system.readFile(directory + "/modules.dep")
        } catch {
            throw KernelModuleError(module: "-", operation: "read \(directory)/modules.dep", errno: error.errno,
                                    detail: "no module index for this kernel")
        }
        let aliasText = (try? system.readFile(directory + "/modules.alias")) ?? ""
        let builtinText = (try? system.readFile(directory + "/modules.builtin")) ?? ""
        return parse(directory: directory, dep: depText, alias: aliasText, builtin: builtinText)
    }

    /// Builds the index from the files' text.
    public static func parse(directory: String, dep: String, alias: String, builtin: String) -> KernelModuleIndex {
        var modules: [String: Entry] = [:]
        for line in dep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let file = String(line[..<colon]).trimmedModuleText
            guard !file.isEmpty else { continue }
            let deps = line[line.index(after: colon)...].split(separator: " ").map { moduleName(fromPath: String($0)) }
            let name = moduleName(fromPath: file)
            if modules[name] == nil {  // first entry wins, as in modprobe
                modules[name] = Entry(path: file.hasPrefix("/") ? file : directory + "/" + file, dependencies: deps)
            }
        }
        var aliases: [(String, String)] = []
        for line in alias.split(separator: "\n") where line.hasPrefix("alias ") {
            let words = line.split(separator: " ")
            if words.count >= 3 { aliases.append((String(words[1]), normalise(String(words[2])))) }
        }
        let builtins = Set(builtin.split(separator: "\n").map { moduleName(fromPath: String($0)) })
        return KernelModuleIndex(directory: directory, modules: modules, aliases: aliases, builtin: builtins)
    }

    /// Module names treat '-' and '_' alike; the kernel uses '_'.
    public static func normalise(_ name: String) -> String {
        String(name.map { $0 == "-" ? "_" : $0 })
    }

    /// "kernel/drivers/virtio/virtio_pci.ko.xz" -> "virtio_pci".
    public static func moduleName(fromPath path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) {
            base.removeLast(suffix.count)
        }
        if base.hasSuffix(".ko") { base.removeLast(3) }
        return normalise(base)
    }

    /// What a name resolves to.
    public enum Resolution: Sendable, Equatable {
        /// Built into the kernel: nothing to load.
        case builtin(String)
        /// Load these modules in this order (dependencies first, the module last).
        case load([String])
    }

    /// Resolves a module name (or alias) to the modules to load, dependencies first.
    public func resolve(_ requested: String) throws(KernelModuleError) -> Resolution {
        let name = Self.normalise(requested)
        if modules[name] == nil, builtin.contains(name) { return .builtin(name) }
        var target = name
        if modules[name] == nil {
            guard let match = aliases.first(where: { fnmatch($0.pattern, requested, 0) == 0 }) else {
                throw KernelModuleError(module: requested, operation: "find", errno: ENOENT,
                                        detail: "not in \(directory)/modules.dep, modules.builtin or modules.alias")
            }
            target = match.module
            if modules[target] == nil, builtin.contains(target) { return .builtin(target) }
        }
        var order: [String] = []
        var visiting: Set<String> = []
        try visit(target, requested: requested, order: &order, visiting: &visiting)
        return .load(order)
    }

    private func visit(_ name: String, requested: String, order: inout [String], visiting: inout Set<String>) throws(KernelModuleError) {
        if order.contains(name) || builtin.contains(name) && modules[name] == nil { return }
        guard let entry = modules[name] else {
            throw KernelModuleError(module: requested, operation: "resolve dependency \(name)", errno: ENOENT,
                                    detail: "not in \(directory)/modules.dep")
        }
        guard visiting.insert(name).inserted else {
            throw KernelModuleError(module: requested, operation: "resolve dependencies", errno: ELOOP,
                                    detail: "dependency cycle through \(name)")
        }
        for dependency in entry.dependencies {
            try visit(dependency, requested: requested, order: &order, visiting: &visiting)
        }
        visiting.remove(name)
        order.append(name)
    }
}

/// A module that could not be found or loaded: which module, what failed, the errno.
public struct KernelModuleError: Error, Sendable, Equatable, CustomStringConvertible {
    public let module: String
    public let operation: String
    public let errno: Int32
    public let detail: String

    public init(module: String, operation: String, errno: Int32, detail: String = "") {
        self.module = module
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = "kernel module \(module): \(operation) failed"
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if !detail.isEmpty { text += "; \(detail)" }
        return text
    }
}

extension String {
    var trimmedModuleText: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}
