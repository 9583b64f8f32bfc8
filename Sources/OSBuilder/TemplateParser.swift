import Foundation

/// One template.conf as written, before inheritance is resolved.
public struct ParsedTemplate: Sendable, Equatable {
    public var description: String?
    public var parent: String?
    public var agent: Template.AgentPlacement?
    public var owners: Template.OwnerPolicy?
    public var distroName: String?
    public var distroVersion: String?
    public var bootstrap: Template.Bootstrap?
    public var packages: [String] = []
    public var hostPackages: [String] = []
    public var actions: [Template.Action] = []
    public var origins: [Template.Origin] = []
}

/// Parses the line-oriented template format documented in osbuilder/README.md:
/// `directive positional... key=value...`, `#` comments, double quotes with \n \t \\ \" escapes.
public enum TemplateParser {
    public static func parse(_ text: String, file: String) throws -> ParsedTemplate {
        var result = ParsedTemplate()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let origin = Template.Origin(file: file, line: index + 1)
            let words: [String]
            do {
                words = try tokenize(String(rawLine))
            } catch let message as LineError {
                throw OSBuilderError("parse template", origin.description, message.text)
            }
            guard let directive = words.first else { continue }
            do {
                try apply(directive, Array(words.dropFirst()), to: &result, origin: origin)
            } catch let message as LineError {
                throw OSBuilderError("parse template", origin.description, "\(directive): \(message.text)")
            }
        }
        return result
    }

    struct LineError: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    static func tokenize(_ line: String) throws -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quoted = false
        var iterator = line.makeIterator()
        while let char = iterator.next() {
            if quoted {
                if char == "\"" {
                    quoted = false
                } else if char == "\\" {
                    guard let next = iterator.next() else { throw LineError("dangling backslash") }
                    switch next {
                    case "n": current.append("\n")
                    case "t": current.append("\t")
                    case "\\": current.append("\\")
                    case "\"": current.append("\"")
                    default: throw LineError("unknown escape \\\(next)")
                    }
                } else {
                    current.append(char)
                }
                continue
            }
            if char == "#" && !inWord { break }
            if char == " " || char == "\t" || char == "\r" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else if char == "\"" {
                quoted = true
                inWord = true
            } else {
                current.append(char)
                inWord = true
            }
        }
        if quoted { throw LineError("unterminated quote") }
        if inWord { words.append(current) }
        return words
    }

    /// Splits `key=value` options (only the keys a directive knows) from positional words.
    static func split(_ words: [String], options known: Set<String>) throws -> ([String], [String: String]) {
        var positional: [String] = []
        var options: [String: String] = [:]
        for word in words {
            if let eq = word.firstIndex(of: "="), known.contains(String(word[..<eq])) {
                let key = String(word[..<eq])
                if options[key] != nil { throw LineError("option \(key) given twice") }
                options[key] = String(word[word.index(after: eq)...])
            } else {
                if !options.isEmpty { throw LineError("positional argument \"\(word)\" after options") }
                positional.append(word)
            }
        }
        return (positional, options)
    }

    static func mode(_ text: String?, default value: UInt32) throws -> UInt32 {
        guard let text else { return value }
        guard let mode = UInt32(text, radix: 8), mode <= 0o7777 else { throw LineError("bad mode \(text) (octal, at most 7777)") }
        return mode
    }

    static func owner(_ text: String?) throws -> Template.Owner? {
        guard let text else { return nil }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) else {
            throw LineError("bad owner \(text) (numeric uid:gid)")
        }
        return Template.Owner(uid: uid, gid: gid)
    }

    static func absolutePath(_ text: String) throws -> String {
        guard text.hasPrefix("/"), !text.contains("\0"), !text.split(separator: "/").contains("..") else {
            throw LineError("path \(text) must be absolute without ..")
        }
        // Normalise "//" and a trailing "/" so paths compare equal later.
        let parts = text.split(separator: "/")
        return "/" + parts.joined(separator: "/")
    }

    static func exactly(_ count: Int, _ words: [String], _ usage: String) throws {
        if words.count != count { throw LineError("expected \(usage)") }
    }

    static func apply(_ directive: String, _ words: [String], to result: inout ParsedTemplate, origin: Template.Origin) throws {
        var action: Template.Action?
        switch directive {
        case "description":
            guard !words.isEmpty else { throw LineError("expected text") }
            result.description = words.joined(separator: " ")
        case "inherit":
            try exactly(1, words, "one template name")
            result.parent = words[0]
        case "distro":
            guard (1...2).contains(words.count) else { throw LineError("expected NAME [VERSION]") }
            result.distroName = words[0]
            result.distroVersion = words.count > 1 ? words[1] : ""
        case "agent":
            switch words.first {
            case "init": try exactly(1, words, "init"); result.agent = .initDaemon
            case "none": try exactly(1, words, "none"); result.agent = Template.AgentPlacement.none
            case "service":
                try exactly(2, words, "service PATH")
                result.agent = .service(path: try absolutePath(words[1]))
            default: throw LineError("expected init, service PATH or none")
            }
        case "owners":
            try exactly(1, words, "root or preserve")
            guard let policy = Template.OwnerPolicy(rawValue: words[0]) else { throw LineError("expected root or preserve") }
            result.owners = policy
        case "bootstrap":
            let (positional, options) = try split(words, options: ["suite", "variant", "components", "exclude"])
            guard positional.isEmpty, let suite = options["suite"] else {
                throw LineError("expected suite=NAME [variant=V] [components=a,b] [exclude=GLOB,GLOB]")
            }
            result.bootstrap = Template.Bootstrap(
                suite: suite, variant: options["variant"] ?? "minbase",
                components: (options["components"] ?? "main").split(separator: ",").map(String.init),
                exclude: (options["exclude"] ?? "").split(separator: ",").map(String.init))
        case "package":
            guard !words.isEmpty else { throw LineError("expected package names") }
            result.packages += words
        case "host-package":
            guard !words.isEmpty else { throw LineError("expected package names") }
            result.hostPackages += words
        case "dir":
            let (paths, options) = try split(words, options: ["mode", "owner"])
            guard !paths.isEmpty else { throw LineError("expected PATH... [mode=] [owner=]") }
            let mode = try mode(options["mode"], default: 0o755)
            let owner = try owner(options["owner"])
            for path in paths {
                result.actions.append(.directory(path: try absolutePath(path), mode: mode, owner: owner))
                result.origins.append(origin)
            }
        case "file":
            let (positional, options) = try split(words, options: ["mode", "owner", "content", "source"])
            try exactly(1, positional, "PATH [mode=] [owner=] [content=TEXT | source=FILE]")
            if options["content"] != nil && options["source"] != nil { throw LineError("content= and source= exclude each other") }
            let content: Template.FileContent
            if let source = options["source"] {
                guard !source.hasPrefix("/"), !source.split(separator: "/").contains("..") else {
                    throw LineError("source \(source) must be relative to the template directory")
                }
                content = .source(source)
            } else {
                content = .inline(options["content"] ?? "")
            }
            action = .file(path: try absolutePath(positional[0]), mode: try mode(options["mode"], default: 0o644),
                           owner: try owner(options["owner"]), content: content)
        case "symlink":
            let (positional, options) = try split(words, options: ["owner"])
            try exactly(2, positional, "PATH TARGET [owner=]")
            guard !positional[1].isEmpty else { throw LineError("empty target") }
            action = .symlink(path: try absolutePath(positional[0]), target: positional[1], owner: try owner(options["owner"]))
        case "device":
            let (positional, options) = try split(words, options: ["mode", "owner"])
            try exactly(4, positional, "PATH c|b MAJOR MINOR [mode=] [owner=]")
            guard let kind = Template.DeviceKind(rawValue: positional[1]) else { throw LineError("kind must be c or b") }
            guard let major = UInt32(positional[2]), let minor = UInt32(positional[3]) else { throw LineError("bad major/minor") }
            action = .device(path: try absolutePath(positional[0]), kind: kind, major: major, minor: minor,
                             mode: try mode(options["mode"], default: 0o600), owner: try owner(options["owner"]))
        case "host-file":
            let (positional, options) = try split(words, options: ["mode", "owner"])
            try exactly(2, positional, "SOURCE DEST [mode=] [owner=]")
            guard positional[0].hasPrefix("/") else { throw LineError("host source \(positional[0]) must be absolute") }
            action = .hostFile(source: positional[0], path: try absolutePath(positional[1]),
                               mode: options["mode"] == nil ? nil : try mode(options["mode"], default: 0),
                               owner: try owner(options["owner"]))
        case "busybox-links":
            try exactly(1, words, "PATH of busybox inside the rootfs")
            action = .busyboxLinks(path: try absolutePath(words[0]))
        case "mask":
            guard !words.isEmpty else { throw LineError("expected unit names") }
            for unit in words {
                guard !unit.contains("/"), unit.contains(".") else { throw LineError("bad unit name \(unit)") }
                result.actions.append(.mask(unit: unit))
                result.origins.append(origin)
            }
        default:
            throw LineError("unknown directive")
        }
        if let action {
            result.actions.append(action)
            result.origins.append(origin)
        }
    }
}
