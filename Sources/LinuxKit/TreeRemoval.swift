import Glibc

/// `rm -rf --one-file-system` for trees a container wrote (its writable layer): everything goes
/// through directory descriptors, symlinks are removed and never followed, and a directory on
/// another filesystem (a mount point) is left in place together with its parents.
///
/// A container can make its tree as deep as it likes, so neither the recursion nor the
/// descriptors held open grow with the depth: a directory found `maximumDepth` levels down is
/// moved (renamed, same filesystem) to the top of the tree and taken apart in a later pass.
public enum TreeRemoval {
    /// Why a tree was not removed completely: the first entry that stayed, and the errno
    /// (EBUSY for a mount point).
    public struct Failure: Error, Sendable, Equatable {
        public var path: String
        public var errno: Int32
        public var operation: String
    }

    /// Directory levels opened at once; deeper directories are moved to the top.
    public static let maximumDepth = 32
    static let maximumPasses = 1 << 20

    /// Removes `path` and everything beneath it on its filesystem. A missing path is not an
    /// error. Returns the first failure; the rest of the tree is still removed as far as it can.
    @discardableResult
    public static func remove(_ path: String) -> Failure? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            return errno == ENOENT ? nil : Failure(path: path, errno: errno, operation: "lstat")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            return unlink(path) == 0 || errno == ENOENT ? nil : Failure(path: path, errno: errno, operation: "unlink")
        }
        let root = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard root >= 0 else { return Failure(path: path, errno: errno, operation: "open") }
        defer { close(root) }
        var walk = Walk(root: root, rootPath: path, device: info.st_dev)
        // Each pass empties what it can reach; directories moved up are taken in the next one.
        // A finite tree needs depth / maximumDepth passes; the bound only guards against a
        // writer that keeps adding levels while the tree is removed.
        var passes = 0
        repeat {
            walk.moved = false
            walk.empty(root, path: path, depth: 0)
            passes += 1
        } while walk.moved && passes < maximumPasses
        if walk.failure == nil && rmdir(path) != 0 && errno != ENOENT {
            walk.failure = Failure(path: path, errno: errno, operation: "rmdir")
        }
        return walk.failure
    }

    private struct Walk {
        let root: Int32
        let rootPath: String
        let device: dev_t
        var moved = false
        var movedCount = 0
        var failure: Failure?

        mutating func fail(_ path: String, _ code: Int32, _ operation: String) {
            if failure == nil { failure = Failure(path: path, errno: code, operation: operation) }
        }

        /// Removes the entries of the open directory `directory` (which stays open).
        mutating func empty(_ directory: Int32, path: String, depth: Int) {
            for name in Self.names(directory, path: path, walk: &self) {
                let child = path + "/" + String(decoding: name.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
                var info = stat()
                guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                    if errno != ENOENT { fail(child, errno, "fstatat") }
                    continue
                }
                guard info.st_mode & S_IFMT == S_IFDIR else {
                    if unlinkat(directory, name, 0) != 0 && errno != ENOENT { fail(child, errno, "unlink") }
                    continue
                }
                guard info.st_dev == device else {
                    fail(child, EBUSY, "leave mount point")
                    continue
                }
                if depth + 1 >= TreeRemoval.maximumDepth {
                    moveToTop(directory, name: name, path: child)
                    continue
                }
                let opened = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard opened >= 0 else {
                    fail(child, errno, "open")
                    continue
                }
                empty(opened, path: child, depth: depth + 1)
                close(opened)
                if unlinkat(directory, name, AT_REMOVEDIR) != 0 && errno != ENOENT { fail(child, errno, "rmdir") }
            }
        }

        /// Renames a too-deep directory to a fresh name at the top (never over an existing entry).
        mutating func moveToTop(_ directory: Int32, name: [CChar], path: String) {
            while movedCount < Int.max {
                let target = ".kata-removing-\(movedCount)"
                movedCount += 1
                var existing = stat()
                if fstatat(root, target, &existing, AT_SYMLINK_NOFOLLOW) == 0 { continue }
                if renameat(directory, name, root, target) == 0 {
                    moved = true
                } else {
                    fail(path, errno, "move up to \(rootPath)/\(target)")
                }
                return
            }
        }

        /// The names in `directory` as NUL-terminated bytes (a container's names need not be
        /// UTF-8), read through a duplicate so the caller's descriptor keeps its offset.
        static func names(_ directory: Int32, path: String, walk: inout Walk) -> [[CChar]] {
            let copy = dup(directory)
            guard copy >= 0, let stream = fdopendir(copy) else {
                walk.fail(path, errno, "opendir")
                if copy >= 0 { close(copy) }
                return []
            }
            defer { closedir(stream) }
            rewinddir(stream)
            var names: [[CChar]] = []
            while let entry = readdir(stream) {
                var name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    raw.prefix(while: { $0 != 0 }).map { CChar(bitPattern: $0) }
                }
                if name == [0x2E] || name == [0x2E, 0x2E] { continue }
                name.append(0)
                names.append(name)
            }
            return names
        }
    }
}
