import Foundation
import Glibc
import XCTest
@testable import Sandbox

/// A temporary tree standing in for /sys and /dev: directories, attribute files, symlinks.
/// Removed by `remove()`; tests call it in tearDown.
final class FakeSysfs {
    let root: String
    var paths: DevicePaths { DevicePaths(sysfs: root + "/sys", dev: root + "/dev") }

    init() throws {
        var template = Array("/tmp/kata-fake-sysfs-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw XCTSkip("mkdtemp failed: errno \(errno)") }
        root = String(cString: made)
        try directory("/sys")
        try directory("/dev")
    }

    /// mkdir -p below the fake root.
    func directory(_ path: String) throws {
        var current = root
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw XCTSkip("mkdir \(current): errno \(errno)")
            }
        }
    }

    /// A file with contents (parents created).
    func file(_ path: String, _ contents: String = "") throws {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try directory(parent)
        let fd = open(root + path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw XCTSkip("create \(path): errno \(errno)") }
        _ = contents.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        close(fd)
    }

    /// A disk as the kernel leaves it once added: its sysfs directory ".../block/<name>" and
    /// the node /dev/<name> (the locator does not take a disk whose node is missing).
    func disk(_ path: String) throws {
        try directory(path)
        try file("/dev/" + (path.split(separator: "/").last.map(String.init) ?? ""))
    }

    func link(_ path: String, to target: String) throws {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        try directory(parent)
        _ = symlink(target, root + path)
    }

    func read(_ path: String) -> String? {
        guard let handle = fopen(root + path, "r") else { return nil }
        defer { fclose(handle) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, handle)
            if count <= 0 { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Device numbers by node path, for `ContainerDevices` tests.
struct FakeDeviceNodes: DeviceNodeInspector {
    var numbers: [String: DeviceNumber]
    /// Character devices by directory.
    var directories: [String: [CharacterDeviceNode]] = [:]
    func deviceNumber(_ path: String) -> DeviceNumber? { numbers[path] }
    func characterDevices(in directory: String) -> [CharacterDeviceNode] { directories[directory] ?? [] }
}
