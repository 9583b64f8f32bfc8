import Foundation
import XCTest
@testable import OSBuilder

/// Paths and helpers shared by the osbuilder tests.
enum TestSupport {
    static let repo: String = {
        var url = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var templates: TemplateLibrary { TemplateLibrary(root: "\(repo)/rootfs-templates") }

    /// A static binary standing in for the agent: the real one when built, else Debian's busybox.
    static func standInAgent() throws -> String {
        for candidate in ["/bin/busybox"] where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        throw XCTSkip("no static stand-in agent: apt-get install busybox-static (make deps)")
    }

    /// A fresh directory below the system's temporary directory, removed when the test bundle
    /// has run (some are shared by several tests of a class, so not sooner): together they
    /// held about a gigabyte of images per run, and every run used to leave them behind.
    static func temporaryDirectory(_ name: String = #function) throws -> String {
        let base = NSTemporaryDirectory() + "osbuilder-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        TemporaryDirectories.shared.add(base)
        return base
    }

    /// Runs a host program, returning (status, stdout, stderr).
    @discardableResult
    static func run(_ program: String, _ args: [String], stdin: Data? = nil, cwd: String? = nil, env: [String: String] = [:]) throws -> (Int32, Data, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = args
        if let cwd { process.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in env { environment[key] = value }
        process.environment = environment
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        let errBox = DataBox()
        let errThread = Thread { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        errThread.start()
        if let stdin {
            let writer = Thread {
                try? input.fileHandleForWriting.write(contentsOf: stdin)
                try? input.fileHandleForWriting.close()
            }
            writer.start()
        }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errBox.waitForEOF(err)
        return (process.terminationStatus, data, String(decoding: errBox.data, as: UTF8.self))
    }

    static func requireTool(_ path: String) throws {
        guard FileManager.default.isExecutableFile(atPath: path) else { throw XCTSkip("\(path) missing (make deps)") }
    }

    static var isRoot: Bool { geteuid() == 0 }
}

/// The directories `TestSupport.temporaryDirectory` made, removed once the bundle finishes.
final class TemporaryDirectories: NSObject, XCTestObservation, @unchecked Sendable {
    static let shared: TemporaryDirectories = {
        let janitor = TemporaryDirectories()
        XCTestObservationCenter.shared.addTestObserver(janitor)
        return janitor
    }()

    private let lock = NSLock()
    private var paths: [String] = []

    func add(_ path: String) {
        lock.withLock { paths.append(path) }
    }

    func testBundleDidFinish(_ testBundle: Bundle) {
        let made = lock.withLock { () -> [String] in
            defer { paths.removeAll() }
            return paths
        }
        for path in made {
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
