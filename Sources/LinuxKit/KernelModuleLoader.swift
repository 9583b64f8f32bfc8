import Glibc
import Logging

/// Loads kernel modules like `modprobe NAME PARAMS...` without modprobe in the guest.
public struct KernelModuleLoader: Sendable {
    /// /lib/modules/<release> (tests: a fixture tree).
    public let directory: String
    /// /sys/module, where loaded (and some built-in) modules appear.
    public let sysModuleDirectory: String
    public let system: any SystemCalls
    public let logger: Logger

    /// The running kernel's modules under `modulesRoot` (default /lib/modules).
    public init(system: any SystemCalls = LinuxSystemCalls(), modulesRoot: String = "/lib/modules",
                release: String? = nil, sysModuleDirectory: String = "/sys/module",
                logger: Logger = Logger(label: "kernel-modules")) {
        self.system = system
        self.directory = modulesRoot + "/" + (release ?? system.kernelRelease())
        self.sysModuleDirectory = sysModuleDirectory
        self.logger = logger
    }

    /// Loads `name` (a module name or alias) with `parameters`, dependencies first.
    /// Built-in or already-loaded modules succeed without loading anything.
    public func load(_ name: String, parameters: [String] = []) throws(KernelModuleError) {
        var index: KernelModuleIndex?
        try load(name, parameters: parameters, index: &index)
    }

    /// `load(_:parameters:)` with the index read at most once across calls sharing `cached`
    /// (nil at first): a list of modules would otherwise parse modules.dep and modules.builtin
    /// once per module.
    public func load(_ name: String, parameters: [String], index cached: inout KernelModuleIndex?) throws(KernelModuleError) {
        let normalised = KernelModuleIndex.normalise(name)
        guard !name.isEmpty, !name.contains("/"), !name.contains("\0") else {
            throw KernelModuleError(module: name, operation: "validate name", errno: EINVAL)
        }
        if isLoaded(normalised) {
            logger.debug("kernel module already loaded", metadata: ["module": "\(normalised)"])
            return
        }
        let index: KernelModuleIndex
        if let cached {
            index = cached
        } else {
            do {
                index = try KernelModuleIndex.load(directory: directory, system: system)
            } catch {
                // The index knows no module; the caller must learn which one could not be loaded.
                throw KernelModuleError(module: name, operation: error.operation, errno: error.errno, detail: error.detail)
            }
            cached = index
        }
        switch try index.resolve(name) {
        case let .builtin(module):
            logger.debug("kernel module is built in", metadata: ["module": "\(module)"])
        case let .load(order):
            for module in order {
                guard !isLoaded(module), let entry = index.modules[module] else { continue }
                // Parameters belong to the requested module only, as with modprobe.
                let params = module == order.last ? parameters.joined(separator: " ") : ""
                try insert(module, path: entry.path, parameters: params, requested: name)
            }
        }
    }

    /// Whether /sys/module/<name> exists (loaded, or built in with parameters).
    public func isLoaded(_ module: String) -> Bool {
        system.fileExists(sysModuleDirectory + "/" + KernelModuleIndex.normalise(module))
    }

    private func insert(_ module: String, path: String, parameters: String, requested: String) throws(KernelModuleError) {
        let compressed = path.hasSuffix(".xz") || path.hasSuffix(".zst") || path.hasSuffix(".gz")
        do {
            try system.loadModule(path: path, parameters: parameters, compressed: compressed)
            logger.info("loaded kernel module", metadata: ["module": "\(module)", "path": "\(path)", "parameters": "\(parameters)"])
        } catch {
            if error.errno == EEXIST { return }  // loaded meanwhile
            var detail = "file \(path)"
            if compressed && (error.errno == EINVAL || error.errno == EOPNOTSUPP || error.errno == ENOSYS) {
                detail += "; this kernel cannot load compressed modules (needs CONFIG_MODULE_DECOMPRESS, Linux 5.17+): ship it uncompressed"
            }
            let operation = module == KernelModuleIndex.normalise(requested) ? "load" : "load dependency \(module)"
            throw KernelModuleError(module: requested, operation: operation, errno: error.errno, detail: detail)
        }
    }

    /// Module names listed in modules-load.d style files: one per line, '#' and ';' comments.
    public static func parseModulesLoad(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let trimmed = String(line).trimmedModuleText
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { return nil }
            return trimmed
        }
    }

    /// Loads the modules listed in `<directory>/*.conf` (files in lexicographic order).
    /// Failures are logged and collected, not thrown: one missing module must not stop boot.
    @discardableResult
    public func loadModulesLoadDirectory(_ directory: String = "/etc/modules-load.d") -> [KernelModuleError] {
        guard let names = try? system.listDirectory(directory) else { return [] }
        var failures: [KernelModuleError] = []
        var index: KernelModuleIndex?
        for file in names.filter({ $0.hasSuffix(".conf") }).sorted() {
            guard let text = try? system.readFile(directory + "/" + file) else { continue }
            for module in Self.parseModulesLoad(text) {
                do {
                    try load(module, parameters: [], index: &index)
                } catch {
                    logger.error("cannot load kernel module", metadata: ["module": "\(module)", "file": "\(file)", "error": "\(error)"])
                    failures.append(error)
                }
            }
        }
        return failures
    }
}
