import Foundation

/// erofs (read-only) with `mkfs.erofs`: sized by the tool, all files owned by root
/// (`--all-root`), fixed UUID (`-U`), mtimes clamped to SOURCE_DATE_EPOCH (mkfs.erofs reads the
/// variable itself), host xattrs ignored (`-x -1`), no inline tail data (`-E noinline_data`,
/// as upstream: DAX cannot map inline data). Checked with `fsck.erofs`.
struct EROFSFormatter: FilesystemFormatter {
    var context: FilesystemContext

    func estimateBytes() -> UInt64? { nil }

    /// erofs takes owners and device nodes from the disk: a rootless tree can only give it
    /// what it really holds.
    func ownerArguments() throws -> [String] {
        if let device = context.tree.entries.first(where: { if case .device = $0.kind { return $0.sourcePath == nil } else { return false } }) {
            throw OSBuilderError("build erofs image", device.absolutePath, "device nodes recorded only in the attributes cannot be written by mkfs.erofs (use ext4 or xfs)")
        }
        if context.tree.entries.allSatisfy({ $0.owner == .root }) { return ["--all-root"] }
        for entry in context.tree.entries {
            var st = stat()
            guard let source = entry.sourcePath, lstat(source, &st) == 0 else { continue }
            if st.st_uid != entry.owner.uid || st.st_gid != entry.owner.gid {
                throw OSBuilderError("build erofs image", entry.absolutePath, "owner \(entry.owner.uid):\(entry.owner.gid) is not on disk (mkfs.erofs takes owners from the files)")
            }
        }
        return []
    }

    func make(_ file: String, bytes: UInt64?) throws -> UInt64 {
        var arguments = ["--quiet", "-x", "-1", "-E", "noinline_data", "-U", context.uuid]
        arguments += try ownerArguments()
        if let compression = context.options.erofsCompression { arguments.append("-z" + compression) }
        var env: [String: String] = [:]
        if let epoch = context.options.sourceDateEpoch { env["SOURCE_DATE_EPOCH"] = String(epoch) }
        context.progress.step("mkfs.erofs \(context.options.erofsCompression.map { "-z\($0)" } ?? "(uncompressed)") \(context.options.rootfs)")
        unlink(file)
        try Tool.mkfsEROFS.run(arguments + [file, context.options.rootfs], environment: env, operation: "mkfs.erofs")
        var st = stat()
        guard stat(file, &st) == 0 else { throw OSBuilderError.errno("stat", file) }
        return UInt64(st.st_size)
    }

    func verify(_ file: String) throws {
        context.progress.step("fsck.erofs")
        let output = try Tool.fsckEROFS.run([file], check: false)
        guard output.status == 0 else {
            let text = String(decoding: output.stdout, as: UTF8.self) + output.stderr
            throw OSBuilderError("fsck.erofs", file, text.split(separator: "\n").last.map(String.init) ?? "exit \(output.status)")
        }
    }
}

/// `--erofs-compression` values.
public enum EROFSCompression {
    /// none (nil), or a compressor of erofs-utils 1.5 (lz4, lz4hc) with an optional level.
    public static func parse(_ text: String) throws -> String? {
        if text == "none" { return nil }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), ["lz4", "lz4hc"].contains(String(parts[0])),
            parts.count == 1 || (UInt8(parts[1]).map { $0 <= 12 } ?? false)
        else {
            throw OSBuilderError("parse --erofs-compression", text, "expected none, lz4 or lz4hc[,LEVEL 0-12]")
        }
        return text
    }
}
