import Foundation

/// Finds templates on disk and resolves `inherit` chains into complete templates.
public struct TemplateLibrary: Sendable {
    /// Directory holding one sub-directory per template.
    public var root: String

    public init(root: String) {
        self.root = root
    }

    /// The templates directory: an explicit one, $OSBUILDER_TEMPLATES, or the first
    /// `rootfs-templates` found next to or above the executable, or in the working directory.
    public static func locate(explicit: String?) throws -> TemplateLibrary {
        if let explicit { return TemplateLibrary(root: explicit) }
        if let env = ProcessInfo.processInfo.environment["OSBUILDER_TEMPLATES"], !env.isEmpty {
            return TemplateLibrary(root: env)
        }
        var candidates: [String] = []
        let exe = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        for _ in 0..<5 {
            candidates.append(dir.appendingPathComponent("rootfs-templates").path)
            candidates.append(dir.appendingPathComponent("share/osbuilder/rootfs-templates").path)
            dir = dir.deletingLastPathComponent()
        }
        candidates.append(FileManager.default.currentDirectoryPath + "/rootfs-templates")
        for candidate in candidates {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), isDir.boolValue {
                return TemplateLibrary(root: candidate)
            }
        }
        throw OSBuilderError("locate templates", "rootfs-templates", "not found; pass --templates DIR or set OSBUILDER_TEMPLATES")
    }

    /// Names of all templates (directories holding a template.conf), sorted.
    public func names() throws -> [String] {
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: root)
        } catch {
            throw OSBuilderError("list templates", root, "cannot read directory")
        }
        return entries.filter { FileManager.default.fileExists(atPath: "\(root)/\($0)/template.conf") }.sorted()
    }

    func parsed(_ name: String) throws -> ParsedTemplate {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw OSBuilderError("load template", name, "not a template name")
        }
        let path = "\(root)/\(name)/template.conf"
        guard let data = FileManager.default.contents(atPath: path) else {
            let known = (try? names())?.joined(separator: ", ") ?? ""
            throw OSBuilderError("load template", name, "unknown template (known: \(known))")
        }
        return try TemplateParser.parse(String(decoding: data, as: UTF8.self), file: path)
    }

    /// Loads `name` with its parents merged in: parents' actions first, the child's scalar
    /// settings override its parents', package lists accumulate.
    public func load(_ name: String) throws -> Template {
        var chain: [(String, ParsedTemplate)] = []
        var current: String? = name
        while let next = current {
            if chain.contains(where: { $0.0 == next }) {
                throw OSBuilderError("load template", name, "inheritance cycle through \(next)")
            }
            let parsed = try parsed(next)
            chain.append((next, parsed))
            current = parsed.parent
        }
        var template = Template(name: name, directory: "\(root)/\(name)")
        template.inherits = chain.dropFirst().map(\.0)
        for (templateName, parsed) in chain.reversed() {
            if let value = parsed.description { template.description = value }
            if let value = parsed.agent { template.agent = value }
            if let value = parsed.owners { template.owners = value }
            if let value = parsed.distroName { template.distroName = value }
            if let value = parsed.distroVersion { template.distroVersion = value }
            if let value = parsed.bootstrap { template.bootstrap = value }
            for package in parsed.packages where !template.packages.contains(package) { template.packages.append(package) }
            for package in parsed.hostPackages where !template.hostPackages.contains(package) { template.hostPackages.append(package) }
            // `source=` files are relative to the template that names them.
            for (action, origin) in zip(parsed.actions, parsed.origins) {
                if case .file(let path, let mode, let owner, .source(let source)) = action {
                    template.actions.append(.file(path: path, mode: mode, owner: owner, content: .source("\(root)/\(templateName)/\(source)")))
                } else {
                    template.actions.append(action)
                }
                template.origins.append(origin)
            }
        }
        if template.distroName.isEmpty { template.distroName = name }
        return template
    }
}
