import Foundation
import XCTest

/// A throwaway container rootfs: Debian's busybox-static plus one link per applet, made in a
/// temp directory at test time.
final class BusyboxRootfs {
    let bundle: URL
    var rootfs: String { bundle.appendingPathComponent("rootfs").path }

    static let busybox = "/bin/busybox"

    init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.busybox) else {
            throw XCTSkip("busybox-static is not installed (make deps installs it)")
        }
        bundle = FileManager.default.temporaryDirectory.appendingPathComponent("kata-bundle-\(UUID().uuidString.prefix(8))")
        let root = bundle.appendingPathComponent("rootfs")
        let fm = FileManager.default
        for dir in ["bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "etc", "tmp", "root", "home/user"] {
            try fm.createDirectory(at: root.appendingPathComponent(dir), withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: Self.busybox, toPath: root.appendingPathComponent("bin/busybox").path)
        let list = Foundation.Process()
        list.executableURL = URL(fileURLWithPath: Self.busybox)
        list.arguments = ["--list-full"]
        let pipe = Pipe()
        list.standardOutput = pipe
        try list.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        list.waitUntilExit()
        for line in String(decoding: output, as: UTF8.self).split(separator: "\n") {
            let path = String(line)
            guard !path.isEmpty, path != "bin/busybox" else { continue }
            let link = root.appendingPathComponent(path).path
            try? fm.createDirectory(atPath: (link as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let depth = path.split(separator: "/").count - 1
            let target = String(repeating: "../", count: depth) + "bin/busybox"
            try? fm.createSymbolicLink(atPath: link, withDestinationPath: target)
        }
        try "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n".write(
            to: root.appendingPathComponent("etc/passwd"), atomically: true, encoding: .utf8)
        try "root:x:0:\nuser:x:1000:\n".write(to: root.appendingPathComponent("etc/group"), atomically: true, encoding: .utf8)
    }

    func remove() {
        try? FileManager.default.removeItem(at: bundle)
    }
}

/// Shared helpers of the engine's own tests.
enum EngineTestSupport {
    static func requireRoot(_ why: String) throws {
        guard getuid() == 0 else { throw XCTSkip("needs root: \(why)") }
    }

    /// The built agent, which container init re-executes as `kata-agent init`.
    static func agentBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["KATA_AGENT_BIN"] { return path }
        var dir = URL(fileURLWithPath: #filePath)
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("Package.swift").path) {
            dir.deleteLastPathComponent()
        }
        let path = dir.appendingPathComponent(".build/debug/kata-agent").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw XCTSkip("kata-agent is not built (swift build --product kata-agent): \(path)")
        }
        return path
    }
}
