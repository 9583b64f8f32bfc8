import Foundation

/// A 128-bit fingerprint of a tree (listing, owners, sizes, clamped mtimes, the first and last
/// 4 KiB of every file) and SOURCE_DATE_EPOCH: the source of the filesystem UUID, hash seed and
/// MBR signature, so the same inputs give the same bytes and different inputs differ.
public struct TreeDigest: Sendable {
    public var low: UInt64
    public var high: UInt64

    static let prime: UInt64 = 0x100_0000_01b3

    public static func compute(_ tree: FileTree, epoch: Int64?) -> TreeDigest {
        var a: UInt64 = 0xcbf2_9ce4_8422_2325
        var b: UInt64 = 0x8422_2325_cbf2_9ce4
        func mix<S: Sequence>(_ bytes: S) where S.Element == UInt8 {
            for byte in bytes {
                a = (a ^ UInt64(byte)) &* prime
                b = (b ^ UInt64(byte ^ 0x5c)) &* prime
            }
        }
        mix("epoch \(epoch ?? -1)\n".utf8)
        for entry in tree.entries {
            mix("\(entry.path)\0\(entry.mode) \(entry.owner.uid):\(entry.owner.gid) \(entry.size) \(entry.mtime) \(entry.linkTarget) \(entry.rdevMajor):\(entry.rdevMinor)\n".utf8)
            if entry.kind == .regular, let source = entry.sourcePath, let handle = FileHandle(forReadingAtPath: source) {
                mix((try? handle.read(upToCount: 4096)) ?? Data())
                if entry.size > 8192 {
                    try? handle.seek(toOffset: entry.size - 4096)
                    mix((try? handle.read(upToCount: 4096)) ?? Data())
                }
                try? handle.close()
            }
        }
        return TreeDigest(low: a, high: b)
    }

    /// An RFC 4122 version-4-shaped UUID string derived from the digest and a salt.
    public func uuid(salt: UInt64) -> String {
        var x = low ^ (salt &* 0x9e37_79b9_7f4a_7c15)
        var y = high ^ (salt &* 0xc2b2_ae3d_27d4_eb4f)
        x = (x ^ (x >> 31)) &* 0xbf58_476d_1ce4_e5b9
        y = (y ^ (y >> 29)) &* 0x94d0_49bb_1331_11eb
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<8 {
            bytes[index] = UInt8(truncatingIfNeeded: x >> (8 * UInt64(index)))
            bytes[index + 8] = UInt8(truncatingIfNeeded: y >> (8 * UInt64(index)))
        }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let chars = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(chars[$0]) }.joined(separator: "-")
    }

    /// The MBR disk signature: the first four bytes of the filesystem UUID.
    static func diskSignature(uuid: String) -> UInt32 {
        let hex = uuid.replacingOccurrences(of: "-", with: "")
        return UInt32(hex.prefix(8), radix: 16) ?? 0x4b415441
    }
}
