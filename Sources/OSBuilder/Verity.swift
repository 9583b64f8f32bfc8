import Foundation

/// A dm-verity hash tree over the root partition (MEASURED_ROOTFS): built by `veritysetup format
/// --no-superblock` on regular files as upstream does (partition 1 data, partition 2 hash tree,
/// every parameter on the kernel command line), rootless, with a salt derived from the inputs.
public struct VerityParameters: Sendable, Equatable {
    public static let blockSize: UInt64 = 4096
    public static let algorithm = "sha256"

    public var rootHash: String
    public var salt: String
    public var dataBlocks: UInt64
    public var dataBlockSize: UInt64 = VerityParameters.blockSize
    public var hashBlockSize: UInt64 = VerityParameters.blockSize

    public init(rootHash: String, salt: String, dataBlocks: UInt64) {
        self.rootHash = rootHash
        self.salt = salt
        self.dataBlocks = dataBlocks
    }

    /// Bytes of a hash tree (no superblock) over `dataBytes`: every level down to one block,
    /// 128 sha256 digests per 4 KiB block.
    public static func hashTreeBytes(dataBytes: UInt64) -> UInt64 {
        let perBlock = blockSize / 32
        var level = (dataBytes + blockSize - 1) / blockSize
        var blocks: UInt64 = 0
        repeat {
            level = (level + perBlock - 1) / perBlock
            blocks += level
        } while level > 1
        return blocks * blockSize
    }

    /// Upstream's `kernel_verity_params` (runtime configuration): the five values the runtime
    /// turns into dm-mod.create.
    public var kernelVerityParams: String {
        "root_hash=\(rootHash),salt=\(salt),data_blocks=\(dataBlocks),data_block_size=\(dataBlockSize),hash_block_size=\(hashBlockSize)"
    }

    /// The dm-verity table the kernel's dm-init builds at boot (dm-mod.create, name dm-verity,
    /// read-only, one target covering partition 1, hash tree from block 0 of partition 2).
    public func dmModCreate(dataDevice: String, hashDevice: String) -> String {
        let sectors = dataBlocks * dataBlockSize / 512
        return "dm-mod.create=\"dm-verity,,,ro,0 \(sectors) verity 1 \(dataDevice) \(hashDevice) \(dataBlockSize) \(hashBlockSize) \(dataBlocks) 0 \(Self.algorithm) \(rootHash) \(salt)\""
    }

    /// Everything that boots the image with verity: the table, root=/dev/dm-0 and the
    /// filesystem's read-only root flags.
    public func kernelParameters(filesystem: FilesystemType, nvdimm: Bool) -> String {
        let base = nvdimm ? "/dev/pmem0p" : "/dev/vda"
        return dmModCreate(dataDevice: base + "1", hashDevice: base + "2") + " root=/dev/dm-0 " + filesystem.rootParameters(dax: false)
    }

    /// The root hash file beside an image (it cannot live inside the data it hashes).
    public static func rootHashFile(forImage image: String) -> String { image + ".root_hash.txt" }

    /// The file's text: veritysetup's labels (what upstream's scripts parse with sed) plus the
    /// runtime's kernel_verity_params and ready-to-use kernel parameters.
    public func rendered(image: String, filesystem: FilesystemType, dax: Bool) -> String {
        var lines = [
            "# dm-verity of \((image as NSString).lastPathComponent), partition 1 (\(filesystem.rawValue)) hashed into partition 2; written by osbuilder",
            "Hash type:\t1",
            "Data blocks:\t\(dataBlocks)",
            "Data block size:\t\(dataBlockSize)",
            "Hash block size:\t\(hashBlockSize)",
            "Hash algorithm:\t\(Self.algorithm)",
            "Salt:\t\(salt)",
            "Root hash:\t\(rootHash)",
            "Filesystem:\t\(filesystem.rawValue)",
            "kernel_verity_params:\t\(kernelVerityParams)",
            "kernel_params:\t\(kernelParameters(filesystem: filesystem, nvdimm: false))",
        ]
        if dax { lines.append("kernel_params_nvdimm:\t\(kernelParameters(filesystem: filesystem, nvdimm: true))") }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Reads a root hash file; throws naming the first missing or malformed field.
    public static func parse(_ text: String, file: String) throws -> VerityParameters {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        func hex(_ key: String) throws -> String {
            guard let value = fields[key], !value.isEmpty, value.count % 2 == 0, value.allSatisfy(\.isHexDigit) else {
                throw OSBuilderError("read root hash file", file, "missing or malformed '\(key)'")
            }
            return value.lowercased()
        }
        func number(_ key: String) throws -> UInt64 {
            guard let value = fields[key].flatMap({ UInt64($0) }), value > 0 else {
                throw OSBuilderError("read root hash file", file, "missing or malformed '\(key)'")
            }
            return value
        }
        let result = VerityParameters(rootHash: try hex("Root hash"), salt: try hex("Salt"), dataBlocks: try number("Data blocks"))
        // What osbuilder builds and verifies: 4 KiB blocks, sha256, a size that fits in bytes.
        guard try number("Data block size") == blockSize, try number("Hash block size") == blockSize else {
            throw OSBuilderError("read root hash file", file, "block sizes other than \(blockSize) are not supported")
        }
        guard fields["Hash algorithm"] == algorithm else { throw OSBuilderError("read root hash file", file, "hash algorithm is not \(algorithm)") }
        guard !result.dataBlocks.multipliedReportingOverflow(by: blockSize).overflow else {
            throw OSBuilderError("read root hash file", file, "'Data blocks' is out of range")
        }
        return result
    }

    static let commonArguments = ["--no-superblock", "--hash", algorithm, "--data-block-size", "4096", "--hash-block-size", "4096"]

    /// Hashes all of `dataFile` into the new file `hashFile`.
    static func format(dataFile: String, hashFile: String, salt: String) throws -> VerityParameters {
        guard FileManager.default.createFile(atPath: hashFile, contents: nil) else { throw OSBuilderError.errno("create", hashFile) }
        let output = try Tool.veritysetup.run(["format"] + commonArguments + ["--salt", salt, dataFile, hashFile], operation: "veritysetup format")
        let text = String(decoding: output.stdout, as: UTF8.self)
        var rootHash = ""
        var dataBlocks: UInt64 = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { continue }
            if parts[0] == "Root hash" { rootHash = parts[1] }
            if parts[0] == "Data blocks" { dataBlocks = UInt64(parts[1]) ?? 0 }
        }
        guard rootHash.count == 64, dataBlocks > 0 else {
            throw OSBuilderError("veritysetup format", dataFile, "no root hash in its output")
        }
        return VerityParameters(rootHash: rootHash, salt: salt, dataBlocks: dataBlocks)
    }

    /// Checks `dataFile` against the tree at `hashOffset` in `hashFile`; nil when it matches,
    /// else veritysetup's complaint.
    func verify(dataFile: String, hashFile: String, hashOffset: UInt64) throws -> String? {
        let output = try Tool.veritysetup.run(
            ["verify"] + Self.commonArguments + ["--data-blocks", String(dataBlocks), "--hash-offset", String(hashOffset),
                                                 "--salt", salt, dataFile, hashFile, rootHash], check: false)
        guard output.status != 0 else { return nil }
        let text = String(decoding: output.stdout, as: UTF8.self) + output.stderr
        return text.split(separator: "\n").last.map(String.init) ?? "exit \(output.status)"
    }
}
