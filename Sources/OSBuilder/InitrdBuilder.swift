import Foundation

/// Packs a rootfs directory into a compressed newc initrd, rootless and reproducibly.
public struct InitrdBuilder {
    public var rootfs: String
    public var compression: Compression
    public var sourceDateEpoch: Int64?
    public var progress: BuildProgress

    public init(rootfs: String, compression: Compression = .gzip, sourceDateEpoch: Int64?, progress: BuildProgress = BuildProgress()) {
        self.rootfs = rootfs
        self.compression = compression
        self.sourceDateEpoch = sourceDateEpoch
        self.progress = progress
    }

    /// What was written.
    public struct Result: Sendable {
        public var entries: Int
        public var uncompressedBytes: UInt64
        public var compressedBytes: UInt64
    }

    @discardableResult
    public func build(output: String) throws -> Result {
        signal(SIGPIPE, SIG_IGN)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: rootfs, isDirectory: &isDir), isDir.boolValue else {
            throw OSBuilderError("build initrd", rootfs, "rootfs directory does not exist")
        }
        let attributes = try TreeAttributes.load(rootfs: rootfs)
        let tree = try FileTree.scan(root: rootfs, attributes: attributes, epoch: sourceDateEpoch)
        guard let initEntry = tree.entries.first(where: { $0.path == "init" }) else {
            throw OSBuilderError("build initrd", rootfs, "no /init: the kernel would find nothing to run (use a template with /init)")
        }
        if initEntry.kind == .symlink {
            let target = initEntry.linkTarget.hasPrefix("/") ? String(initEntry.linkTarget.dropFirst()) : initEntry.linkTarget
            guard tree.entries.contains(where: { $0.path == target }) else {
                throw OSBuilderError("build initrd", rootfs, "/init points to \(initEntry.linkTarget), which is missing")
            }
        }
        let bytes = try tree.contentBytes()
        progress.step("packing \(tree.entries.count) entries, \(bytes >> 20) MiB, from \(rootfs) (\(compression.rawValue))")
        var uncompressed: UInt64 = 0
        try AtomicOutput(output).produce { temporary in
            try compression.write(to: temporary) { sink in
                let writer = CpioWriter(sink: sink)
                try writer.append(tree: tree)
                try writer.finish()
                uncompressed = writer.bytesWritten
            }
        }
        var st = stat()
        stat(output, &st)
        progress.step("wrote \(output): \(st.st_size) bytes (\(uncompressed) uncompressed)")
        return Result(entries: tree.entries.count, uncompressedBytes: uncompressed, compressedBytes: UInt64(st.st_size))
    }
}
