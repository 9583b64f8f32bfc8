import Foundation

/// Creates a Debian base tree with mmdebstrap (or debootstrap) from the mirror this machine's
/// apt configuration names, or from an explicit `--mirror`.
public struct Bootstrapper {
    public var progress: BuildProgress

    public init(progress: BuildProgress) {
        self.progress = progress
    }

    /// The first Debian archive URI in the apt sources that serves `suite` (deb822 .sources
    /// files and one-line sources.list alike); nil when none does.
    public static func aptMirror(suite: String, sourcesRoot: String = "/etc/apt") -> String? {
        var files = ["\(sourcesRoot)/sources.list"]
        let dir = "\(sourcesRoot)/sources.list.d"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        files += names.sorted().map { "\(dir)/\($0)" }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            let text = String(decoding: data, as: UTF8.self)
            if file.hasSuffix(".sources") {
                for paragraph in text.components(separatedBy: "\n\n") {
                    var fields: [String: String] = [:]
                    for line in paragraph.split(separator: "\n") where !line.hasPrefix("#") {
                        guard let colon = line.firstIndex(of: ":") else { continue }
                        fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    }
                    let types = fields["types"]?.split(separator: " ") ?? []
                    let suites = fields["suites"]?.split(separator: " ").map(String.init) ?? []
                    if types.contains("deb"), suites.contains(suite), let uri = fields["uris"]?.split(separator: " ").first {
                        return String(uri)
                    }
                }
            } else if file.hasSuffix(".list") {
                for line in text.split(separator: "\n") {
                    var words = line.split(separator: " ").map(String.init)
                    guard words.first == "deb" else { continue }
                    words.removeFirst()
                    if words.first?.hasPrefix("[") == true {
                        while let word = words.first, !word.hasSuffix("]") { words.removeFirst() }
                        if !words.isEmpty { words.removeFirst() }
                    }
                    if words.count >= 2, words[1] == suite { return words[0] }
                }
            }
        }
        return nil
    }

    /// Bootstraps `bootstrap.suite` into `target` (an empty directory).
    public func run(_ bootstrap: Template.Bootstrap, packages: [String], into target: String, mirror: String?, epoch: Int64?) throws {
        guard let uri = mirror ?? Self.aptMirror(suite: bootstrap.suite) else {
            throw OSBuilderError("bootstrap", bootstrap.suite, "no apt source for this suite in /etc/apt; pass --mirror URI")
        }
        var environment: [String: String] = [:]
        if let epoch { environment["SOURCE_DATE_EPOCH"] = String(epoch) }
        if Tool.mmdebstrap.isAvailable {
            var args = ["--variant=\(bootstrap.variant)", "--components=\(bootstrap.components.joined(separator: ","))"]
            if !packages.isEmpty { args.append("--include=\(packages.joined(separator: ","))") }
            for glob in bootstrap.exclude { args.append("--dpkgopt=path-exclude=\(glob)") }
            args += [bootstrap.suite, target, uri]
            progress.step("mmdebstrap \(bootstrap.suite) (\(bootstrap.variant)) from \(uri)")
            try Tool.mmdebstrap.run(args, environment: environment, operation: "bootstrap \(bootstrap.suite) with mmdebstrap")
        } else {
            let debootstrap = Tool("debootstrap", package: "debootstrap")
            var args = ["--variant=\(bootstrap.variant)", "--components=\(bootstrap.components.joined(separator: ","))"]
            if !packages.isEmpty { args.append("--include=\(packages.joined(separator: ","))") }
            args += [bootstrap.suite, target, uri]
            progress.step("debootstrap \(bootstrap.suite) (\(bootstrap.variant)) from \(uri)")
            try debootstrap.run(args, environment: environment, operation: "bootstrap \(bootstrap.suite) with debootstrap")
        }
    }
}
