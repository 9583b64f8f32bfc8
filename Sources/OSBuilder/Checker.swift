import Foundation

/// `osbuilder check`: inspects a rootfs directory, an initrd or a disk image.
public struct Checker {
    /// One line of the report.
    public struct Finding: Sendable, Equatable {
        public var passed: Bool
        public var message: String
    }

    /// All findings; passed when none failed.
    public struct Report: Sendable {
        public var kind: String
        public var findings: [Finding] = []
        public var passed: Bool { findings.allSatisfy(\.passed) }

        mutating func ok(_ message: String) { findings.append(Finding(passed: true, message: message)) }
        mutating func fail(_ message: String) { findings.append(Finding(passed: false, message: message)) }

        public func rendered() -> String {
            var lines = ["\(kind):"]
            lines += findings.map { "  \($0.passed ? "ok  " : "FAIL") \($0.message)" }
            lines.append(passed ? "result: ok" : "result: FAILED (\(findings.filter { !$0.passed }.count) problems)")
            return lines.joined(separator: "\n")
        }
    }

    public init() {}

    public func check(_ path: String) throws -> Report {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw OSBuilderError("check", path, "no such file or directory")
        }
        if isDir.boolValue {
            var report = Report(kind: "rootfs directory \(path)")
            checkTree(DirectoryView(root: path), report: &report, needsInit: false)
            return report
        }
        guard let handle = FileHandle(forReadingAtPath: path) else { throw OSBuilderError.errno("open", path) }
        let head = [UInt8]((try? handle.read(upToCount: 8192)) ?? Data())
        try? handle.close()
        if MBR.decode(head) != nil {
            return try checkImage(path, head: head)
        }
        let data = try Compression.readDecompressed(path)
        var report = Report(kind: "initrd \(path) (\(Compression.detect(Data(head.prefix(4)))), \(data.count) bytes uncompressed)")
        let members: [CpioMember]
        do {
            members = try CpioReader.read(data)
        } catch let error as OSBuilderError {
            report.fail("not a newc cpio archive: \(error.reason)")
            return report
        }
        report.ok("newc archive with \(members.count) entries")
        checkTree(ArchiveView(members: members), report: &report, needsInit: true)
        return report
    }

    func readBytes(_ path: String, at offset: UInt64, count: Int) -> [UInt8]? {
        // Offsets come from the image's headers; FileHandle traps on one past Int64.max.
        guard offset <= UInt64(Int64.max), let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: offset)) != nil, let data = try? handle.read(upToCount: count) else { return nil }
        return [UInt8](data)
    }

    func checkExecutable(_ view: RootView, _ path: String, report: inout Report, mustBeStatic: Bool) {
        guard let (real, node) = view.resolve(path) else {
            report.fail("\(path) is missing")
            return
        }
        guard node.kind == .regular, node.permissions & 0o111 != 0 else {
            report.fail("\(path) (\(real)) is not an executable regular file")
            return
        }
        let linkage = ELFLinkage.classify(view.read(real, limit: 1 << 16) ?? Data())
        let name = real == path ? path : "\(path) -> \(real)"
        switch (linkage, mustBeStatic) {
        case (.staticExecutable, _): report.ok("\(name): statically linked executable")
        case (.dynamic(let interpreter), true): report.fail("\(name) is dynamically linked (needs \(interpreter))")
        case (.dynamic, false): report.ok("\(name): executable (dynamic)")
        case (.notELF, true): report.fail("\(name) is not an ELF executable")
        case (.notELF, false): report.ok("\(name): executable script")
        }
    }

    func checkTree(_ view: RootView, report: inout Report, needsInit: Bool) {
        let summary = view.read("/" + Summary.relativePath, limit: 1 << 16).map { String(decoding: $0, as: UTF8.self) }
        let isInit = summary.flatMap { Summary.value(of: "agent-is-init-daemon", in: $0) }
        let agentName = summary.flatMap { Summary.value(of: "name", in: $0.components(separatedBy: "agent:").last ?? "") }
        if summary == nil { report.ok("no /\(Summary.relativePath) (not built by osbuilder?)") }
        let hasAgent = agentName.map { !$0.isEmpty } ?? true
        if needsInit || view.node("/init") != nil {
            checkExecutable(view, "/init", report: &report, mustBeStatic: false)
        }
        if hasAgent {
            checkExecutable(view, "/sbin/init", report: &report, mustBeStatic: isInit != "no")
            let agentPath = isInit == "no" ? (agentName ?? "/usr/bin/kata-agent") : "/sbin/init"
            if agentPath != "/sbin/init" { checkExecutable(view, agentPath, report: &report, mustBeStatic: true) }
            for dir in ["/proc", "/sys", "/dev", "/run", "/tmp", "/etc"] {
                if view.resolve(dir)?.node.kind == .directory { report.ok("mount point \(dir)") } else { report.fail("mount point \(dir) is missing") }
            }
            for file in ["/etc/resolv.conf", "/etc/machine-id", "/etc/hostname"] {
                if view.node(file)?.kind == .regular { report.ok("\(file) is a regular file") } else { report.fail("\(file) is missing or not a regular file") }
            }
        } else {
            report.ok("template without agent (\(agentName ?? ""))")
        }
        checkModules(view, report: &report)
    }

    func checkModules(_ view: RootView, report: inout Report) {
        var wanted: [String] = []
        for name in view.list("/etc/modules-load.d") where name.hasSuffix(".conf") {
            let text = String(decoding: view.read("/etc/modules-load.d/\(name)", limit: 1 << 20) ?? Data(), as: UTF8.self)
            wanted += text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        }
        guard !wanted.isEmpty else { return }
        let versions = view.list("/lib/modules")
        guard !versions.isEmpty else {
            report.fail("modules-load lists \(wanted.count) modules but /lib/modules is empty")
            return
        }
        for version in versions {
            let base = "/lib/modules/\(version)"
            let dep = String(decoding: view.read("\(base)/modules.dep", limit: 64 << 20) ?? Data(), as: UTF8.self)
            let builtin = String(decoding: view.read("\(base)/modules.builtin", limit: 64 << 20) ?? Data(), as: UTF8.self)
            do {
                let index = try ModuleIndex(modulesDep: dep, builtin: builtin)
                let (ordered, _) = try index.closure(of: wanted)
                let missing = ordered.filter { name in index.paths[name].map { view.resolve("\(base)/\($0)") == nil } ?? true }
                if missing.isEmpty {
                    report.ok("modules-load (\(version)): \(wanted.count) listed, \(ordered.count) with dependencies, all present")
                } else {
                    report.fail("modules-load (\(version)): files missing for \(missing.joined(separator: " "))")
                }
            } catch let error as OSBuilderError {
                report.fail("modules-load (\(version)): \(error.subject): \(error.reason)")
            } catch {
                report.fail("modules-load (\(version)): \(error)")
            }
        }
    }
}
