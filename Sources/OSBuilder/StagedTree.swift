import Foundation

/// File operations on the staging directory, addressed by absolute in-guest paths.
/// Parents are created 0755 on demand; existing entries of another type are replaced.
struct StagedTree {
    var root: String

    func hostPath(_ path: String) -> String { root + path }

    func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(hostPath(path), &st) == 0
    }

    func makeParents(of path: String) throws {
        var current = ""
        for component in path.split(separator: "/").dropLast() {
            current += "/\(component)"
            var st = stat()
            if lstat(hostPath(current), &st) == 0 {
                if (UInt32(st.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFDIR) { continue }
                // A symlinked parent (merged /usr: /lib -> usr/lib) is fine when it points
                // inside the tree; follow it with the host path.
                if (UInt32(st.st_mode) & UInt32(S_IFMT)) == UInt32(S_IFLNK) { continue }
                throw OSBuilderError("create directory", current, "exists and is not a directory")
            }
            guard mkdir(hostPath(current), 0o755) == 0 || errno == EEXIST else { throw OSBuilderError.errno("mkdir", current) }
            guard chmod(hostPath(current), 0o755) == 0 else { throw OSBuilderError.errno("chmod", current) }
        }
    }

    private func removeNonDirectory(_ path: String) throws {
        var st = stat()
        guard lstat(hostPath(path), &st) == 0 else { return }
        guard (UInt32(st.st_mode) & UInt32(S_IFMT)) != UInt32(S_IFDIR) else {
            throw OSBuilderError("replace", path, "is a directory")
        }
        guard unlink(hostPath(path)) == 0 else { throw OSBuilderError.errno("unlink", path) }
    }

    func directory(_ path: String, mode: UInt32) throws {
        try makeParents(of: path)
        var st = stat()
        if lstat(hostPath(path), &st) == 0, (UInt32(st.st_mode) & UInt32(S_IFMT)) != UInt32(S_IFDIR) {
            try removeNonDirectory(path)
        }
        guard mkdir(hostPath(path), 0o700) == 0 || errno == EEXIST else { throw OSBuilderError.errno("mkdir", path) }
        guard chmod(hostPath(path), mode_t(mode)) == 0 else { throw OSBuilderError.errno("chmod", path) }
    }

    func file(_ path: String, contents: Data, mode: UInt32) throws {
        try makeParents(of: path)
        try removeNonDirectory(path)
        guard FileManager.default.createFile(atPath: hostPath(path), contents: contents) else {
            throw OSBuilderError.errno("write", path)
        }
        guard chmod(hostPath(path), mode_t(mode)) == 0 else { throw OSBuilderError.errno("chmod", path) }
    }

    func symlink(_ path: String, target: String) throws {
        try makeParents(of: path)
        try removeNonDirectory(path)
        guard Foundation.symlink(target, hostPath(path)) == 0 else { throw OSBuilderError.errno("symlink", path) }
    }

    /// Copies a host file's bytes (not its owner or times) into the tree.
    func copyIn(_ source: String, to path: String, mode: UInt32) throws {
        try makeParents(of: path)
        try removeNonDirectory(path)
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw OSBuilderError.errno("open", source) }
        defer { close(input) }
        let output = open(hostPath(path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw OSBuilderError.errno("create", path) }
        defer { close(output) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let got = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if got < 0 {
                if errno == EINTR { continue }
                throw OSBuilderError.errno("read", source)
            }
            if got == 0 { break }
            var done = 0
            while done < got {
                let wrote = buffer.withUnsafeBytes { raw in write(output, raw.baseAddress.map { $0 + done }, got - done) }
                if wrote < 0 {
                    if errno == EINTR { continue }
                    throw OSBuilderError.errno("write", hostPath(path))
                }
                done += wrote
            }
        }
        guard fchmod(output, mode_t(mode)) == 0 else { throw OSBuilderError.errno("chmod", path) }
    }
}
