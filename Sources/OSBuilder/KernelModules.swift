import Foundation

/// A kernel's module set as described by its modules.dep, and the subset a guest needs.
public struct ModuleIndex: Sendable {
    /// Module name ("virtio_blk") to its path relative to the version directory.
    public private(set) var paths: [String: String] = [:]
    /// Module name to the names of all modules it depends on, as modules.dep lists them.
    public private(set) var dependencies: [String: [String]] = [:]
    /// modules.dep lines in file order, keyed by module name.
    public private(set) var depLines: [(name: String, line: String)] = []
    /// Modules compiled into the kernel (modules.builtin).
    public private(set) var builtin: Set<String> = []

    /// "drivers/block/virtio-blk.ko.xz" -> "virtio_blk", the form modprobe compares.
    public static func name(ofPath path: String) -> String {
        var base = path.split(separator: "/").last.map(String.init) ?? path
        for suffix in [".xz", ".zst", ".gz"] where base.hasSuffix(suffix) { base.removeLast(suffix.count) }
        if base.hasSuffix(".ko") { base.removeLast(3) }
        return normalize(base)
    }

    public static func normalize(_ name: String) -> String { name.replacingOccurrences(of: "-", with: "_") }

    public init(modulesDep: String, builtin: String = "") throws {
        for raw in modulesDep.split(separator: "\n") {
            let line = String(raw)
            guard let colon = line.firstIndex(of: ":") else { continue }
            let path = String(line[..<colon])
            let name = Self.name(ofPath: path)
            paths[name] = path
            dependencies[name] = line[line.index(after: colon)...].split(separator: " ").map { Self.name(ofPath: String($0)) }
            depLines.append((name, line))
        }
        for raw in builtin.split(separator: "\n") { self.builtin.insert(Self.name(ofPath: String(raw))) }
    }

    /// Reads DIR/modules.dep (and modules.builtin when present).
    public static func load(directory: String) throws -> ModuleIndex {
        guard let dep = FileManager.default.contents(atPath: "\(directory)/modules.dep") else {
            throw OSBuilderError("read kernel modules", "\(directory)/modules.dep", "missing (is \(directory) a kernel's /lib/modules/<version>?)")
        }
        let builtin = FileManager.default.contents(atPath: "\(directory)/modules.builtin") ?? Data()
        return try ModuleIndex(modulesDep: String(decoding: dep, as: UTF8.self), builtin: String(decoding: builtin, as: UTF8.self))
    }

    /// The requested modules plus everything they depend on, dependencies first.
    /// Built-in modules are dropped; an unknown name is an error.
    public func closure(of requested: [String]) throws -> (ordered: [String], builtin: [String]) {
        var ordered: [String] = []
        var seen: Set<String> = []
        var builtinHits: [String] = []
        func visit(_ name: String, chain: [String]) throws {
            if seen.contains(name) { return }
            guard !chain.contains(name) else { throw OSBuilderError("resolve module", name, "dependency cycle \(chain.joined(separator: " -> "))") }
            guard let deps = dependencies[name] else {
                throw OSBuilderError("resolve module", name, "listed in modules.dep of no module (needed by \(chain.last ?? "?"))")
            }
            // modules.dep lists the deepest dependency last; visiting in reverse loads it first.
            for dep in deps.reversed() { try visit(dep, chain: chain + [name]) }
            seen.insert(name)
            ordered.append(name)
        }
        for raw in requested {
            guard !raw.isEmpty, raw.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }), raw.allSatisfy(\.isASCII) else {
                throw OSBuilderError("resolve module", raw, "bad module name")
            }
            let name = Self.normalize(raw)
            if dependencies[name] == nil {
                if builtin.contains(name) {
                    builtinHits.append(name)
                    continue
                }
                throw OSBuilderError("resolve module", raw, "no such module in modules.dep and not built in")
            }
            try visit(name, chain: [])
        }
        return (ordered, builtinHits)
    }
}

/// Copies a module subset into a rootfs and writes its metadata.
public struct ModuleInstaller {
    public var sourceDirectory: String
    public var progress: BuildProgress

    public init(sourceDirectory: String, progress: BuildProgress) {
        self.sourceDirectory = sourceDirectory
        self.progress = progress
    }

    /// The kernel version: the last component of the modules directory.
    public var kernelVersion: String {
        URL(fileURLWithPath: sourceDirectory).standardizedFileURL.lastPathComponent
    }

    /// Installs `requested` and their dependencies under ROOTFS/lib/modules/<version>,
    /// regenerates modules.dep/alias for the subset and lists the load order in
    /// /etc/modules-load.d/kata.conf. Returns the modules in load order.
    @discardableResult
    public func install(_ requested: [String], into rootfs: String) throws -> [String] {
        let index = try ModuleIndex.load(directory: sourceDirectory)
        let (ordered, builtin) = try index.closure(of: requested)
        for name in builtin { progress.step("module \(name) is built into the kernel; nothing to copy") }
        let target = "\(rootfs)/lib/modules/\(kernelVersion)"
        let fm = FileManager.default
        try makeDirectory(target)
        let selected = Set(ordered)
        for name in ordered {
            guard let relative = index.paths[name] else { continue }
            let source = "\(sourceDirectory)/\(relative)"
            let destination = "\(target)/\(relative)"
            try makeDirectory((destination as NSString).deletingLastPathComponent)
            try? fm.removeItem(atPath: destination)
            do {
                try fm.copyItem(atPath: source, toPath: destination)
            } catch {
                throw OSBuilderError("copy module", source, "\(error.localizedDescription)")
            }
        }
        let depText = index.depLines.filter { selected.contains($0.name) }.map(\.line).joined(separator: "\n")
        try write(depText.isEmpty ? "" : depText + "\n", to: "\(target)/modules.dep")
        // Aliases let modprobe resolve device aliases; keep only the subset's.
        if let alias = fm.contents(atPath: "\(sourceDirectory)/modules.alias") {
            let lines = String(decoding: alias, as: UTF8.self).split(separator: "\n").filter { line in
                let words = line.split(separator: " ")
                return words.first == "#" || (words.count == 3 && selected.contains(ModuleIndex.normalize(String(words[2]))))
            }
            try write(lines.joined(separator: "\n") + "\n", to: "\(target)/modules.alias")
        }
        for name in ["modules.builtin", "modules.builtin.modinfo", "modules.order"] {
            let source = "\(sourceDirectory)/\(name)"
            guard let data = fm.contents(atPath: source) else { continue }
            if name == "modules.order" {
                let kept = String(decoding: data, as: UTF8.self).split(separator: "\n").filter { selected.contains(ModuleIndex.name(ofPath: String($0))) }
                try write(kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n"), to: "\(target)/\(name)")
            } else {
                guard fm.createFile(atPath: "\(target)/\(name)", contents: data) else { throw OSBuilderError.errno("write", "\(target)/\(name)") }
            }
        }
        // A real kernel tree ships binary indexes; regenerate them for the subset so modprobe
        // (kmod) does not read stale ones. Synthetic trees without them get text files only.
        if fm.fileExists(atPath: "\(sourceDirectory)/modules.dep.bin") {
            try Tool.depmod.run(["-b", rootfs, kernelVersion], operation: "depmod for \(target)")
        }
        // No list when everything asked for is built in (a Kata kernel): the agent as PID 1
        // then has nothing to read at boot rather than a file that lists nothing.
        let list = "\(rootfs)/etc/modules-load.d/kata.conf"
        if ordered.isEmpty {
            try? fm.removeItem(atPath: list)
            progress.step("kernel modules for \(kernelVersion): all built in, no modules-load.d list")
            return ordered
        }
        try makeDirectory("\(rootfs)/etc/modules-load.d")
        try write("# kernel modules the guest loads at boot, dependencies first (written by osbuilder)\n"
            + ordered.map { $0 + "\n" }.joined(), to: list)
        progress.step("kernel modules for \(kernelVersion): \(ordered.joined(separator: " "))")
        return ordered
    }
}

func makeDirectory(_ path: String) throws {
    do {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
        throw OSBuilderError("create directory", path, "\(error.localizedDescription)")
    }
}

func write(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        throw OSBuilderError.errno("write", path)
    }
}
