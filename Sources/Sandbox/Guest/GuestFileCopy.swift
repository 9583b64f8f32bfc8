#if canImport(Glibc)
import Glibc
#endif

/// CopyFile: the host pushes files, directories and symlinks into the guest, confined to one
/// root (/run). Regular files arrive in chunks and are written to a temporary sibling that is
/// renamed into place once it holds `fileSize` bytes, so readers never see a partial file.
public struct GuestFileCopy: Sendable {
    /// One CopyFile request, as plain values.
    public struct Request: Sendable, Equatable {
        public var path: String
        public var fileSize: Int64
        public var fileMode: UInt32
        public var dirMode: UInt32
        public var uid: Int32
        public var gid: Int32
        public var offset: Int64
        public var data: [UInt8]

        public init(
            path: String, fileSize: Int64, fileMode: UInt32, dirMode: UInt32, uid: Int32, gid: Int32,
            offset: Int64, data: [UInt8]
        ) {
            self.path = path
            self.fileSize = fileSize
            self.fileMode = fileMode
            self.dirMode = dirMode
            self.uid = uid
            self.gid = gid
            self.offset = offset
            self.data = data
        }
    }

    /// What a request achieved.
    public enum Outcome: Sendable, Equatable {
        /// A chunk was stored; the file is not complete yet.
        case partial(bytesStored: Int64)
        /// The file, directory or symlink is in place.
        case complete
    }

    public let root: String

    /// `root` must be absolute and is trusted (it comes from the agent, not from the request).
    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public func copy(_ request: Request) throws(GuestOperationError) -> Outcome {
        let components = try destinationComponents(request.path)
        guard let leaf = components.last else {
            throw invalid("path", "'\(request.path)' is the root itself")
        }
        let parentComponents = Array(components.dropLast())
        let uid = uid_t(bitPattern: request.uid)
        let gid = gid_t(bitPattern: request.gid)
        let walk = ConfinedDirectoryWalk(root: root, operation: "copy file")
        let creation = ConfinedDirectoryWalk.Creation(mode: mode_t(request.dirMode & 0o777), uid: uid, gid: gid)
        let parent = try walk.openDirectory(parentComponents, create: creation)
        defer { close(parent) }
        // As upstream, the immediate parent takes the requested owner; the root itself never does.
        if !parentComponents.isEmpty && fchown(parent, uid, gid) != 0 {
            throw .posix("copy file (chown parent)", path: display(parentComponents))
        }

        switch request.fileMode & UInt32(S_IFMT) {
        case 0, UInt32(S_IFREG):
            return try copyRegular(request, parent: parent, leaf: leaf, shown: request.path, uid: uid, gid: gid)
        case UInt32(S_IFDIR):
            try makeDirectory(request, parent: parent, leaf: leaf, shown: request.path, uid: uid, gid: gid)
            return .complete
        case UInt32(S_IFLNK):
            try makeSymlink(request, parent: parent, leaf: leaf, shown: request.path, uid: uid, gid: gid)
            return .complete
        default:
            throw invalid("file_mode", "file type \(String(request.fileMode & UInt32(S_IFMT), radix: 8)) is not a regular file, directory or symlink")
        }
    }

    /// The destination's components below the root; the path must be absolute, clean and inside it.
    func destinationComponents(_ path: String) throws(GuestOperationError) -> [String] {
        guard path.hasPrefix("/") else { throw invalid("path", "'\(path)' is not absolute") }
        guard !path.utf8.contains(0) else { throw invalid("path", "contains a NUL byte") }
        guard path.utf8.count <= Int(PATH_MAX) else { throw invalid("path", "longer than \(PATH_MAX) bytes") }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for part in parts where part.isEmpty || part == "." || part == ".." {
            throw invalid("path", "'\(path)' is not canonical (empty, '.' or '..' component)")
        }
        guard let inside = ConfinedDirectoryWalk.relativeComponents(of: path, below: root), !inside.isEmpty else {
            throw invalid("path", "'\(path)' is not below \(root)")
        }
        return inside
    }

    private func copyRegular(
        _ request: Request, parent: Int32, leaf: String, shown: String, uid: uid_t, gid: gid_t
    ) throws(GuestOperationError) -> Outcome {
        guard request.fileSize >= 0 else { throw invalid("file_size", "must not be negative, got \(request.fileSize)") }
        guard request.offset >= 0 else { throw invalid("offset", "must not be negative, got \(request.offset)") }
        let (end, overflow) = request.offset.addingReportingOverflow(Int64(request.data.count))
        guard !overflow, end <= request.fileSize else {
            throw invalid("offset", "chunk at \(request.offset) of \(request.data.count) bytes ends past file_size \(request.fileSize)")
        }
        let temporary = Self.temporaryName(for: leaf)
        let mode = mode_t(request.fileMode & 0o7777)
        var flags = O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC
        if request.offset == 0 { flags |= O_TRUNC }
        let fd = openat(parent, temporary, flags, mode)
        guard fd >= 0 else { throw .posix("copy file (open temporary)", path: shown) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .posix("copy file (stat)", path: shown) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw GuestOperationError(.system, operation: "copy file", path: shown, reason: "temporary file is not a regular file")
        }
        var written = 0
        while written < request.data.count {
            let count = request.data.withUnsafeBytes { buffer in
                pwrite(fd, buffer.baseAddress.map { $0 + written }, buffer.count - written, off_t(request.offset) + off_t(written))
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw .posix("copy file (write)", path: shown)
            }
            written += count
        }
        guard fstat(fd, &info) == 0 else { throw .posix("copy file (stat)", path: shown) }
        let size = Int64(info.st_size)
        if size < request.fileSize { return .partial(bytesStored: size) }
        guard size == request.fileSize else {
            throw GuestOperationError(
                .invalidArgument(field: "file_size"), operation: "copy file", path: shown,
                reason: "temporary file holds \(size) bytes, more than file_size \(request.fileSize)")
        }
        // The umask shaped the create mode; the request's mode is what must stick.
        guard fchmod(fd, mode) == 0 else { throw .posix("copy file (chmod)", path: shown) }
        guard fchown(fd, uid, gid) == 0 else { throw .posix("copy file (chown)", path: shown) }
        try replace(parent: parent, temporary: temporary, leaf: leaf, shown: shown)
        return .complete
    }

    private func makeDirectory(
        _ request: Request, parent: Int32, leaf: String, shown: String, uid: uid_t, gid: gid_t
    ) throws(GuestOperationError) {
        var info = stat()
        if fstatat(parent, leaf, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            // An existing directory is kept (upstream compatibility); anything else is replaced.
            if info.st_mode & S_IFMT != S_IFDIR && unlinkat(parent, leaf, 0) != 0 {
                throw .posix("copy file (remove existing)", path: shown)
            }
        }
        if mkdirat(parent, leaf, mode_t(request.fileMode & 0o777)) != 0 && errno != EEXIST {
            throw .posix("copy file (mkdir)", path: shown)
        }
        let fd = openat(parent, leaf, O_DIRECTORY | O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("copy file (open directory)", path: shown) }
        defer { close(fd) }
        guard fchmod(fd, mode_t(request.fileMode & 0o7777)) == 0 else { throw .posix("copy file (chmod)", path: shown) }
        guard fchown(fd, uid, gid) == 0 else { throw .posix("copy file (chown)", path: shown) }
    }

    private func makeSymlink(
        _ request: Request, parent: Int32, leaf: String, shown: String, uid: uid_t, gid: gid_t
    ) throws(GuestOperationError) {
        guard !request.data.isEmpty, !request.data.contains(0), request.data.count < Int(PATH_MAX) else {
            throw invalid("data", "a symlink target must be 1..<\(PATH_MAX) bytes without NUL")
        }
        // The link may point anywhere: it is never followed here, and the walk above refuses to
        // follow links that leave the root.
        let target = String(decoding: request.data, as: UTF8.self)
        let temporary = Self.temporaryName(for: leaf)
        if unlinkat(parent, temporary, 0) != 0 && errno != ENOENT {
            throw .posix("copy file (remove stale temporary)", path: shown)
        }
        guard symlinkat(target, parent, temporary) == 0 else { throw .posix("copy file (symlink)", path: shown) }
        guard fchownat(parent, temporary, uid, gid, AT_SYMLINK_NOFOLLOW) == 0 else {
            throw .posix("copy file (chown symlink)", path: shown)
        }
        try replace(parent: parent, temporary: temporary, leaf: leaf, shown: shown)
    }

    /// Renames the finished temporary over the leaf; an empty directory in the way is removed.
    private func replace(parent: Int32, temporary: String, leaf: String, shown: String) throws(GuestOperationError) {
        if renameat(parent, temporary, parent, leaf) == 0 { return }
        let first = errno
        guard first == EISDIR || first == ENOTEMPTY || first == EEXIST else {
            throw .posix("copy file (rename)", path: shown, first)
        }
        guard unlinkat(parent, leaf, AT_REMOVEDIR) == 0 else {
            throw .posix("copy file (remove directory in the way)", path: shown)
        }
        guard renameat(parent, temporary, parent, leaf) == 0 else { throw .posix("copy file (rename)", path: shown) }
    }

    /// A deterministic hidden sibling, so later chunks find it; long names are hashed to stay
    /// within NAME_MAX.
    static func temporaryName(for leaf: String) -> String {
        if leaf.utf8.count <= 200 { return ".\(leaf).kata-copy" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in leaf.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return ".kata-copy-" + String(hash, radix: 16)
    }

    private func display(_ components: [String]) -> String {
        components.isEmpty ? root : root + "/" + components.joined(separator: "/")
    }

    private func invalid(_ field: String, _ reason: String) -> GuestOperationError {
        GuestOperationError(.invalidArgument(field: field), operation: "copy file", reason: reason)
    }
}
