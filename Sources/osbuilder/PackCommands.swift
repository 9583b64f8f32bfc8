import ArgumentParser
import Foundation
import OSBuilder

extension Compression: ExpressibleByArgument {}

struct InitrdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "initrd",
        abstract: "Build a newc cpio initrd (gzip by default) from --rootfs DIR, or from a template built on the fly.")

    @OptionGroup var build: RootfsOptionGroup

    @Option(name: .long, help: "Pack this existing rootfs directory instead of building one from --template.")
    var rootfs: String?

    @Option(name: [.customShort("o"), .long], help: "The initrd file to write.")
    var output: String

    @Option(name: .long, help: "gzip (default, every Kata kernel has it), zstd or none.")
    var compression: Compression = .gzip

    func run() throws {
        try OSBuilderCommand.runReporting {
            let epoch = try build.epoch()
            let pack = { (dir: String) throws in
                _ = try InitrdBuilder(rootfs: dir, compression: compression, sourceDateEpoch: epoch, progress: build.progress).build(output: output)
            }
            if let rootfs { try pack(rootfs) } else { try build.withTemporaryRootfs(near: output) { try pack($0) } }
        }
    }
}

struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Build a raw disk image: MBR, ext4/xfs/erofs partition from 1 MiB, optional dm-verity hash partition, DAX/NVDIMM header unless --no-dax.")

    @OptionGroup var build: RootfsOptionGroup

    @Option(name: .long, help: "Use this existing rootfs directory instead of building one from --template.")
    var rootfs: String?

    @Option(name: [.customShort("o"), .long], help: "The image file to write.")
    var output: String

    // Strings parsed in run(): a bad value is then one `osbuilder: error:` line, not a usage dump.
    @Option(name: .long, help: "Root filesystem: ext4 (default), xfs or erofs (FS_TYPE).")
    var fsType: String = "ext4"

    @Option(name: .long, help: "erofs compression: none (default, as upstream; DAX-capable), lz4 or lz4hc[,LEVEL].")
    var erofsCompression: String = "none"

    @Flag(name: .long, help: "MEASURED_ROOTFS: dm-verity hash tree in partition 2; root hash and kernel parameters in IMAGE.root_hash.txt.")
    var verity = false

    @Flag(name: .long, inversion: .prefixedNo, help: "Prepend the 2 MiB MBR + nd_pfn_sb header so the image boots as /dev/pmem0p1 and /dev/vda1.")
    var dax = true

    @Option(name: .long, help: "Free space to leave in the filesystem, in MiB (ROOT_FREE_SPACE).")
    var freeSpace: UInt64 = 0

    @Option(name: .long, help: "Round the image size up to this many MiB (IMAGE_SIZE_ALIGNMENT_MB; 128 as upstream, 1 = smallest).")
    var alignmentMb: UInt64 = 128

    @Option(name: .long, help: "Filesystem UUID (default: derived from the inputs).")
    var fsUuid: String?

    @Option(name: .long, help: "ext4 directory hash seed (default: derived from the inputs).")
    var hashSeed: String?

    func run() throws {
        try OSBuilderCommand.runReporting {
            let epoch = try build.epoch()
            guard let fsType = FilesystemType(rawValue: fsType) else {
                throw OSBuilderError("parse --fs-type", fsType, "expected ext4, xfs or erofs")
            }
            let compression = try EROFSCompression.parse(erofsCompression)
            let pack = { (dir: String) throws in
                var options = ImageOptions(rootfs: dir)
                options.fsType = fsType
                options.verity = verity
                options.erofsCompression = compression
                options.dax = dax
                options.freeSpaceMB = freeSpace
                options.alignmentMB = alignmentMb
                options.uuid = fsUuid
                options.hashSeed = hashSeed
                options.sourceDateEpoch = epoch
                let result = try ImageBuilder(options: options, progress: build.progress).build(output: output)
                build.progress.step("wrote \(output): \(result.totalBytes) bytes, \(result.filesystem.rawValue) at offset \(result.partitionOffset), UUID \(result.filesystemUUID)")
                if let verity = result.verity, let file = result.rootHashFile {
                    // The root hash is the one output a caller must carry forward: stdout, even with -q.
                    print("root hash: \(verity.rootHash)")
                    print("kernel parameters: \(verity.kernelParameters(filesystem: fsType, nvdimm: false)) (in \(file))")
                }
            }
            if let rootfs { try pack(rootfs) } else { try build.withTemporaryRootfs(near: output) { try pack($0) } }
        }
    }
}

struct ListTemplatesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list-templates", abstract: "List the available templates.")

    @Option(name: .long, help: "Directory holding the templates.")
    var templates: String?

    func run() throws {
        try OSBuilderCommand.runReporting {
            let library = try TemplateLibrary.locate(explicit: templates)
            for name in try library.names() {
                let template = try library.load(name)
                let parent = template.inherits.first.map { " (inherits \($0))" } ?? ""
                print("\(name)\t\(template.description)\(parent)")
            }
        }
    }
}
