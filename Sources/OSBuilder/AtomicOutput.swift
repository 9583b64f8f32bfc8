import Foundation

/// Produces a file under a temporary sibling name and renames it into place only when the
/// whole build succeeded, so a failure never leaves a half-written output under the final name.
struct AtomicOutput {
    let destination: String
    let temporary: String

    init(_ destination: String) throws {
        self.destination = destination
        let dir = (destination as NSString).deletingLastPathComponent
        let base = (destination as NSString).lastPathComponent
        temporary = (dir.isEmpty ? "." : dir) + "/.\(base).partial-\(getpid())"
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDir), isDir.boolValue {
            throw OSBuilderError("write output", destination, "is a directory")
        }
        let parent = dir.isEmpty ? "." : dir
        guard FileManager.default.fileExists(atPath: parent) else {
            throw OSBuilderError("write output", destination, "directory \(parent) does not exist")
        }
        unlink(temporary)
    }

    /// Runs `body` on the temporary path, then renames; removes the temporary on failure.
    func produce<T>(_ body: (String) throws -> T) throws -> T {
        do {
            let result = try body(temporary)
            guard rename(temporary, destination) == 0 else { throw OSBuilderError.errno("rename", destination) }
            return result
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
