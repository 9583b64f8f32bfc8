import Foundation

/// /var/lib/osbuilder/osbuilder.yaml with upstream's fields (file-format-version 0.0.2).
public struct Summary {
    public static let relativePath = "var/lib/osbuilder/osbuilder.yaml"
    public static let formatVersion = "0.0.2"
    public static let osbuilderVersion = "0.1.0"
    public static let url = "kata-swift/osbuilder"

    public var options: RootfsOptions
    public var agentVersion: String

    /// Upstream's `date -u '+%Y-%m-%dT%T.%N%zZ'`, from SOURCE_DATE_EPOCH when set.
    public static func creationTime(epoch: Int64?) -> String {
        let seconds = epoch.map { time_t($0) } ?? time(nil)
        var value = seconds
        var parts = tm()
        gmtime_r(&value, &parts)
        let nanos = epoch == nil ? Int(Date().timeIntervalSince1970.truncatingRemainder(dividingBy: 1) * 1e9) : 0
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%09d+0000Z", parts.tm_year + 1900, parts.tm_mon + 1,
                      parts.tm_mday, parts.tm_hour, parts.tm_min, parts.tm_sec, nanos)
    }

    static func architecture() -> String {
        var name = utsname()
        uname(&name)
        return withUnsafeBytes(of: &name.machine) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
    }

    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    public func render() -> String {
        let template = options.template
        let packages = Array(Set(template.packages)).sorted()
        let extra = Array(Set(options.extraPackages)).sorted()
        let agentName: String
        let isInit: String
        switch options.agentPlacement {
        case .initDaemon: agentName = "/sbin/init"; isInit = "yes"
        case .service(let path): agentName = path; isInit = "no"
        case .none: agentName = ""; isInit = "no"
        }
        var lines = [
            "---",
            "osbuilder:",
            "  url: \(Self.quoted(Self.url))",
            "  version: \(Self.quoted(Self.osbuilderVersion))",
            "rootfs-creation-time: \(Self.quoted(Self.creationTime(epoch: options.sourceDateEpoch)))",
            "description: \(Self.quoted(template.description.isEmpty ? "osbuilder rootfs" : template.description))",
            "file-format-version: \(Self.quoted(Self.formatVersion))",
            "architecture: \(Self.quoted(Self.architecture()))",
            "base-distro:",
            "  name: \(Self.quoted(template.distroName))",
            "  version: \(Self.quoted(template.distroVersion))",
            "  packages:",
            "    default:",
        ]
        lines += packages.map { "      - \(Self.quoted($0))" }
        lines.append("    extra:")
        lines += extra.map { "      - \(Self.quoted($0))" }
        lines += [
            "agent:",
            "  url: \(Self.quoted(Self.url))",
            "  name: \(Self.quoted(agentName))",
            "  version: \(Self.quoted(agentVersion))",
            "  agent-is-init-daemon: \(Self.quoted(isInit))",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    public func write(into root: String) throws {
        let path = "\(root)/\(Self.relativePath)"
        try makeDirectory((path as NSString).deletingLastPathComponent)
        try OSBuilder.write(render(), to: path)
    }

    /// Reads one scalar ("agent-is-init-daemon") back from a summary, for `check`.
    public static func value(of key: String, in text: String) -> String? {
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("\(key):") else { continue }
            return trimmed.dropFirst(key.count + 1).trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }
}
