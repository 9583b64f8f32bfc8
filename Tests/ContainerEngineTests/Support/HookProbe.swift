import Foundation
import OCISpec

/// Hooks that record where and when they ran, one log line per hook:
/// `<kind> mnt=<own mnt ns> pidns=<own pid ns> root=<container|runtime> mounts=<visible|absent>
///  status=<state status> statepid=<state pid> statemnt=<mnt ns of the state's pid>
///  statepidns=<pid ns of the state's pid> pid1=<argv of pid 1, NULs squeezed: a zygote clone may pad it>`.
/// - root: whether a marker file that exists only at the top of the container's rootfs is at
///   `/`, i.e. whether pivot_root already happened for the hook.
/// - mounts: whether the container's proc mount is visible under the rootfs path, i.e. whether
///   the hook sees the container's mounts before the pivot.
/// Hooks that run after the pivot (startContainer) write to `/hooklog`, a bind mount of the
/// host log directory; the others write to the host path directly.
enum HookProbe {
    static let marker = "kata-hook-marker"
    static let containerLogDirectory = "/hooklog"
    static let logName = "hooks.log"
    static let environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]

    static func script(kind: String, log: String, rootfs: String) -> String {
        #"read -r s; st=$(echo "$s" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p'); "#
            + #"p=$(echo "$s" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'); "#
            + "if [ -e /\(marker) ]; then r=container; else r=runtime; fi; "
            + "if [ -e '\(rootfs)/proc/self' ]; then m=visible; else m=absent; fi; "
            + "echo \"\(kind) mnt=$(readlink /proc/self/ns/mnt) pidns=$(readlink /proc/self/ns/pid) root=$r mounts=$m "
            + "status=$st statepid=$p statemnt=$(readlink /proc/$p/ns/mnt 2>/dev/null) "
            + "statepidns=$(readlink /proc/$p/ns/pid 2>/dev/null) pid1=$(tr -s '\\0' _ < /proc/1/cmdline 2>/dev/null)\" >> \(log)"
    }

    /// One probe hook of every kind; `hostLogDirectory` is bind-mounted at /hooklog.
    static func hooks(hostLogDirectory: String, rootfs: String) -> Hooks {
        func hook(_ kind: HookKindName) -> [Hook] {
            let directory = kind == .startContainer ? containerLogDirectory : hostLogDirectory
            let text = script(kind: kind.rawValue, log: directory + "/" + logName, rootfs: rootfs)
            return [Hook(path: "/bin/sh", args: ["sh", "-c", text], env: environment)]
        }
        return Hooks(prestart: hook(.prestart), createRuntime: hook(.createRuntime), createContainer: hook(.createContainer),
                     startContainer: hook(.startContainer), poststart: hook(.poststart), poststop: hook(.poststop))
    }

    /// The bind mount that makes the host log directory visible to post-pivot hooks.
    static func logMount(_ hostLogDirectory: String) -> Mount {
        Mount(destination: containerLogDirectory, type: "bind", source: hostLogDirectory, options: ["rbind", "rw"])
    }

    /// Hook kinds by their OCI names (the test target does not see HookKind's internals).
    enum HookKindName: String, CaseIterable {
        case prestart, createRuntime, createContainer, startContainer, poststart, poststop
    }

    /// One recorded line: its first word and its key=value fields.
    struct Line: Equatable {
        let kind: String
        let fields: [String: String]
    }

    static func parse(_ text: String) -> [Line] {
        text.split(separator: "\n").map { raw in
            var line = String(raw)
            var pid1: String?
            if let range = line.range(of: " pid1=") {
                pid1 = String(line[range.upperBound...])
                line = String(line[..<range.lowerBound])
            }
            let words = line.split(separator: " ")
            var fields: [String: String] = [:]
            for word in words.dropFirst() {
                let parts = word.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
            }
            if let pid1 { fields["pid1"] = pid1 }
            return Line(kind: words.first.map(String.init) ?? "", fields: fields)
        }
    }

    static func read(_ hostLogDirectory: String) -> [Line] {
        parse((try? String(contentsOfFile: hostLogDirectory + "/" + logName, encoding: .utf8)) ?? "")
    }

    /// The namespace link of a process, e.g. "mnt:[4026531841]"; "" when it is gone.
    static func namespace(_ pid: String, _ type: String) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(type)")) ?? ""
    }

    /// Pids of live (non-zombie) processes in the namespace `link` of `type`.
    static func processes(inNamespace link: String, type: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard Int32(entry) != nil, namespace(entry, type) == link else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8)) ?? ""
            return !stat.isEmpty && !stat.contains(") Z ")
        }
    }
}
