import Foundation

/// Read-only view of a guest tree (a directory, an unpacked initrd) addressed by guest paths.
public protocol RootView {
    /// lstat-like: the entry itself, symlinks not followed.
    func node(_ path: String) -> RootNode?
    /// Up to `limit` bytes of a regular file.
    func read(_ path: String, limit: Int) -> Data?
    /// Names in a directory.
    func list(_ path: String) -> [String]
}

/// What `check` needs to know about one entry.
public struct RootNode: Sendable, Equatable {
    public var kind: TreeEntry.Kind
    public var permissions: UInt32
    public var size: UInt64
    public var linkTarget: String
}

extension RootView {
    /// Follows symlinks inside the tree (absolute targets are relative to its root).
    public func resolve(_ path: String) -> (path: String, node: RootNode)? {
        var components = path.split(separator: "/").map(String.init)
        var resolved: [String] = []
        var hops = 0
        while !components.isEmpty {
            let next = components.removeFirst()
            if next == "." { continue }
            if next == ".." { _ = resolved.popLast(); continue }
            let candidate = "/" + (resolved + [next]).joined(separator: "/")
            guard let node = node(candidate) else { return nil }
            if node.kind == .symlink {
                hops += 1
                guard hops < 40 else { return nil }
                let target = node.linkTarget.split(separator: "/").map(String.init)
                if node.linkTarget.hasPrefix("/") { resolved = [] }
                components = target + components
            } else {
                resolved.append(next)
            }
        }
        let final = "/" + resolved.joined(separator: "/")
        guard let node = node(final) else { return nil }
        return (final, node)
    }
}

/// A rootfs directory on the host.
public struct DirectoryView: RootView {
    public var root: String

    public init(root: String) {
        self.root = root
    }

    public func node(_ path: String) -> RootNode? {
        var st = stat()
        guard lstat(root + path, &st) == 0 else { return nil }
        let kind: TreeEntry.Kind
        var target = ""
        switch UInt32(st.st_mode) & UInt32(S_IFMT) {
        case UInt32(S_IFDIR): kind = .directory
        case UInt32(S_IFREG): kind = .regular
        case UInt32(S_IFLNK):
            kind = .symlink
            target = (try? FileManager.default.destinationOfSymbolicLink(atPath: root + path)) ?? ""
        case UInt32(S_IFCHR): kind = .device(.character)
        case UInt32(S_IFBLK): kind = .device(.block)
        case UInt32(S_IFIFO): kind = .fifo
        default: kind = .socket
        }
        return RootNode(kind: kind, permissions: UInt32(st.st_mode) & 0o7777, size: UInt64(st.st_size), linkTarget: target)
    }

    public func read(_ path: String, limit: Int) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: root + path) else { return nil }
        defer { try? handle.close() }
        return try? handle.read(upToCount: limit) ?? Data()
    }

    public func list(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: root + path)) ?? []).sorted()
    }
}

/// An initrd's members held in memory.
public struct ArchiveView: RootView {
    var members: [String: CpioMember] = [:]

    public init(members list: [CpioMember]) {
        for member in list {
            let path = member.name == "." ? "/" : "/" + member.name.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
            members[path] = member
        }
    }

    public func node(_ path: String) -> RootNode? {
        let key = path.isEmpty ? "/" : path
        guard let member = members[key] else { return key == "/" ? RootNode(kind: .directory, permissions: 0o755, size: 0, linkTarget: "") : nil }
        let mode = member.header.mode
        let kind: TreeEntry.Kind
        switch mode & 0o170000 {
        case 0o040000: kind = .directory
        case 0o100000: kind = .regular
        case 0o120000: kind = .symlink
        case 0o020000: kind = .device(.character)
        case 0o060000: kind = .device(.block)
        case 0o010000: kind = .fifo
        default: kind = .socket
        }
        let target = kind == .symlink ? String(decoding: member.contents, as: UTF8.self) : ""
        return RootNode(kind: kind, permissions: mode & 0o7777, size: UInt64(member.contents.count), linkTarget: target)
    }

    public func read(_ path: String, limit: Int) -> Data? {
        members[path].map { Data($0.contents.prefix(limit)) }
    }

    public func list(_ path: String) -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        return members.keys.filter { $0.hasPrefix(prefix) && $0 != path && !$0.dropFirst(prefix.count).contains("/") }
            .map { String($0.dropFirst(prefix.count)) }.sorted()
    }
}
