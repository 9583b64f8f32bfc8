import Foundation

/// Everything a rootfs build takes; the CLI and the tests fill it.
public struct RootfsOptions: Sendable {
    /// A file to add from the build host: `--extra-file SRC:DEST[:MODE]`.
    public struct ExtraFile: Sendable, Equatable {
        public var source: String
        public var destination: String
        public var mode: UInt32?

        public init(source: String, destination: String, mode: UInt32? = nil) {
            self.source = source
            self.destination = destination
            self.mode = mode
        }

        /// Parses SRC:DEST[:MODE].
        public static func parse(_ text: String) throws -> ExtraFile {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard (2...3).contains(parts.count), parts[0].hasPrefix("/") || !parts[0].isEmpty, parts[1].hasPrefix("/") else {
                throw OSBuilderError("parse --extra-file", text, "expected SRC:/DEST[:MODE]")
            }
            var mode: UInt32?
            if parts.count == 3 {
                guard let value = UInt32(parts[2], radix: 8), value <= 0o7777 else {
                    throw OSBuilderError("parse --extra-file", text, "bad octal mode \(parts[2])")
                }
                mode = value
            }
            return ExtraFile(source: parts[0], destination: parts[1], mode: mode)
        }
    }

    public var template: Template
    public var agentBinary: String?
    /// Overrides the template's placement: true = agent is /sbin/init, false = a service.
    public var agentInit: Bool?
    public var extraPackages: [String] = []
    public var kernelModulesDirectory: String?
    public var modules: [String] = []
    public var extraFiles: [ExtraFile] = []
    public var sourceDateEpoch: Int64?
    public var mirror: String?

    public init(template: Template) {
        self.template = template
    }

    /// Where the agent lands, after applying the AGENT_INIT override.
    public var agentPlacement: Template.AgentPlacement {
        switch (template.agent, agentInit) {
        case (.none, _): return .none
        case (_, true?): return .initDaemon
        case (.initDaemon, false?): return .service(path: "/usr/bin/kata-agent")
        default: return template.agent
        }
    }
}

/// Stages a rootfs directory from a template, rootless: owners and device nodes that an
/// unprivileged build cannot create are recorded in TreeAttributes instead.
public struct RootfsBuilder {
    public var options: RootfsOptions
    public var progress: BuildProgress

    public init(options: RootfsOptions, progress: BuildProgress = BuildProgress()) {
        self.options = options
        self.progress = progress
    }

    /// Checks inputs before anything is written, so failures leave nothing behind.
    public func validate() throws {
        let template = options.template
        if options.agentPlacement != .none {
            guard let agent = options.agentBinary else {
                throw OSBuilderError("build rootfs", template.name, "no agent binary given (--agent PATH or AGENT_SOURCE_BIN)")
            }
            try requireRegularFile(agent, what: "agent binary")
        }
        if template.bootstrap == nil && !(template.packages.isEmpty && options.extraPackages.isEmpty) {
            throw OSBuilderError("build rootfs", template.name, "template has no Debian base; EXTRA_PKGS needs a template with `bootstrap` (e.g. debian)")
        }
        if !options.modules.isEmpty && options.kernelModulesDirectory == nil {
            throw OSBuilderError("build rootfs", template.name, "--modules needs --kernel-modules-dir")
        }
        if let dir = options.kernelModulesDirectory {
            _ = try ModuleIndex.load(directory: dir).closure(of: options.modules)
        }
        for extra in options.extraFiles { try requireRegularFile(extra.source, what: "extra file") }
        for package in template.hostPackages { try requireHostPackage(package) }
        for (action, origin) in zip(template.actions, template.origins) {
            if case .hostFile(let source, _, _, _) = action {
                guard access(source, R_OK) == 0 else {
                    throw OSBuilderError("build rootfs", source, "host file named at \(origin) is missing")
                }
            }
        }
    }

    /// Builds into a fresh sibling directory and renames it to `destination` at the end.
    public func build(into target: String, replace: Bool = false) throws {
        try validate()
        let destination = URL(fileURLWithPath: target).standardizedFileURL.path
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: destination, isDirectory: &isDir) {
            let empty = isDir.boolValue && ((try? fm.contentsOfDirectory(atPath: destination).isEmpty) ?? false)
            guard empty || replace else {
                throw OSBuilderError("build rootfs", destination, "already exists and is not empty (remove it or pass --force)")
            }
        }
        let staging = "\(destination).partial-\(getpid())"
        try? fm.removeItem(atPath: staging)
        try makeDirectory(staging)
        do {
            try populate(staging)
            if fm.fileExists(atPath: destination) {
                do { try fm.removeItem(atPath: destination) } catch {
                    throw OSBuilderError("replace", destination, "\(error.localizedDescription)")
                }
            }
            guard rename(staging, destination) == 0 else { throw OSBuilderError.errno("rename", staging) }
        } catch {
            try? fm.removeItem(atPath: staging)
            throw error
        }
    }

    /// Writes the whole tree into `root` (which exists and is empty).
    public func populate(_ root: String) throws {
        let template = options.template
        guard chmod(root, 0o755) == 0 else { throw OSBuilderError.errno("chmod", root) }
        var attributes = TreeAttributes(owners: template.owners)
        if let bootstrap = template.bootstrap {
            try Bootstrapper(progress: progress).run(
                bootstrap, packages: template.packages + options.extraPackages, into: root,
                mirror: options.mirror, epoch: options.sourceDateEpoch)
        }
        progress.step("applying template \(template.name) (\(template.actions.count) entries)")
        let tree = StagedTree(root: root)
        for (action, origin) in zip(template.actions, template.origins) {
            do {
                try apply(action, tree: tree, attributes: &attributes)
            } catch let error as OSBuilderError {
                throw OSBuilderError(error.operation, error.subject, "\(error.reason) (template entry at \(origin))")
            }
        }
        if let agent = options.agentBinary {
            switch options.agentPlacement {
            case .initDaemon:
                try tree.copyIn(agent, to: "/sbin/init", mode: 0o755)
            case .service(let path):
                try tree.copyIn(agent, to: path, mode: 0o755)
            case .none:
                break
            }
        }
        for extra in options.extraFiles {
            let mode = try extra.mode ?? (permissions(of: extra.source))
            try tree.copyIn(extra.source, to: try TemplateParser.absolutePathChecked(extra.destination), mode: mode)
        }
        if let dir = options.kernelModulesDirectory {
            try ModuleInstaller(sourceDirectory: dir, progress: progress).install(options.modules, into: root)
        }
        try tree.makeParents(of: "/" + TreeAttributes.relativePath)
        try write(attributes.serialized(), to: "\(root)/\(TreeAttributes.relativePath)")
        try Summary(options: options, agentVersion: agentVersion()).write(into: root)
    }

    private func apply(_ action: Template.Action, tree: StagedTree, attributes: inout TreeAttributes) throws {
        switch action {
        case .directory(let path, let mode, let owner):
            try tree.directory(path, mode: mode)
            if let owner { attributes.ownerOverrides[path] = owner }
        case .file(let path, let mode, let owner, let content):
            let data: Data
            switch content {
            case .inline(let text): data = Data(text.utf8)
            case .source(let file):
                guard let bytes = FileManager.default.contents(atPath: file) else { throw OSBuilderError.errno("read", file) }
                data = bytes
            }
            try tree.file(path, contents: data, mode: mode)
            if let owner { attributes.ownerOverrides[path] = owner }
        case .symlink(let path, let target, let owner):
            try tree.symlink(path, target: target)
            if let owner { attributes.ownerOverrides[path] = owner }
        case .device(let path, let kind, let major, let minor, let mode, let owner):
            try tree.makeParents(of: path)
            attributes.devices[path] = TreeAttributes.Device(kind: kind, major: major, minor: minor, mode: mode)
            if let owner { attributes.ownerOverrides[path] = owner }
        case .hostFile(let source, let path, let mode, let owner):
            try tree.copyIn(source, to: path, mode: try mode ?? permissions(of: source))
            if let owner { attributes.ownerOverrides[path] = owner }
        case .busyboxLinks(let path):
            let binary = tree.hostPath(path)
            let listing = try Tool(binary, package: "busybox-static").run(["--list-full"], operation: "list busybox applets")
            var count = 0
            for line in String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n") {
                let applet = "/" + line.trimmingCharacters(in: .whitespaces)
                guard applet.count > 1, applet != path, !tree.exists(applet) else { continue }
                try tree.symlink(applet, target: path)
                count += 1
            }
            progress.step("busybox: \(count) applet links")
        case .mask(let unit):
            try tree.symlink("/etc/systemd/system/\(unit)", target: "/dev/null")
        }
    }

    private func permissions(of path: String) throws -> UInt32 {
        var st = stat()
        guard stat(path, &st) == 0 else { throw OSBuilderError.errno("stat", path) }
        return UInt32(st.st_mode) & 0o7777
    }

    /// The agent's `--version` line, or "unknown" when it gives none within a few seconds.
    func agentVersion() -> String {
        guard let agent = options.agentBinary, options.agentPlacement != .none else { return "" }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: agent)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "unknown" }
        let deadline = Date().addingTimeInterval(5)
        let box = DataBox()
        let reader = Thread { box.data = pipe.fileHandleForReading.readDataToEndOfFile() }
        reader.start()
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        box.waitForEOF(pipe)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else { return "unknown" }
        let line = String(decoding: box.data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        let cleaned = line.filter { $0 != "\"" && $0 != "\\" }
        return cleaned.isEmpty ? "unknown" : String(cleaned.prefix(200))
    }
}

extension TemplateParser {
    /// `absolutePath` for CLI input, with an OSBuilderError instead of a parse error.
    static func absolutePathChecked(_ text: String) throws -> String {
        do { return try absolutePath(text) } catch let error as LineError {
            throw OSBuilderError("check path", text, error.text)
        }
    }
}

func requireRegularFile(_ path: String, what: String) throws {
    var st = stat()
    guard stat(path, &st) == 0 else { throw OSBuilderError.errno("find \(what)", path) }
    guard (UInt32(st.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFREG) else {
        throw OSBuilderError("find \(what)", path, "not a regular file")
    }
}

func requireHostPackage(_ package: String) throws {
    let output = try Tool.dpkgQuery.run(["-W", "-f=${Status}", package], check: false)
    guard output.status == 0, String(decoding: output.stdout, as: UTF8.self).hasSuffix("installed"),
        !String(decoding: output.stdout, as: UTF8.self).contains("not-installed")
    else {
        throw OSBuilderError("check host package", package, "not installed (apt-get install \(package))")
    }
}
