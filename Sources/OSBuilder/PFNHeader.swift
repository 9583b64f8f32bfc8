/// The NVDIMM "PFN info" block (struct nd_pfn_sb, kernel 4.19 layout) that upstream's nsdax
/// tool writes 4 KiB into the image, so a pmem device exposes the data from `dataOffset` on
/// with struct pages in RAM (PFN_MODE_RAM) and DAX works.
public struct PFNHeader: Sendable, Equatable {
    public static let offset = 4096
    public static let size = 4096
    public static let signature = Array("NVDIMM_PFN_INFO".utf8) + [0]
    public static let checksumOffset = 4088
    /// PFN_MODE_RAM: the kernel keeps struct pages in system memory.
    public static let modeRAM: UInt32 = 1

    public var dataOffset: UInt64
    public var alignment: UInt32
    public var versionMajor: UInt16 = 0
    public var versionMinor: UInt16 = 2
    public var mode: UInt32 = PFNHeader.modeRAM

    public init(dataOffset: UInt64, alignment: UInt32) {
        self.dataOffset = dataOffset
        self.alignment = alignment
    }

    /// The 4096-byte block with its checksum.
    public func encoded() -> [UInt8] {
        var block = [UInt8](repeating: 0, count: Self.size)
        block.replaceSubrange(0..<16, with: Self.signature)
        // uuid (16..<32), parent_uuid (32..<48) and flags (48) stay zero, as upstream.
        put16(&block, 52, versionMajor)
        put16(&block, 54, versionMinor)
        put64(&block, 56, dataOffset)
        put64(&block, 64, 0)  // npfns: the kernel computes it
        put32(&block, 72, mode)
        put32(&block, 76, 0)  // start_pad
        put32(&block, 80, 0)  // end_trunc
        put32(&block, 84, alignment)
        put64(&block, Self.checksumOffset, Self.fletcher64(block))
        return block
    }

    /// The kernel's nd_fletcher64 over little-endian 32-bit words; the stored checksum field
    /// must be zero while computing.
    public static func fletcher64(_ bytes: [UInt8]) -> UInt64 {
        var lo: UInt32 = 0
        var hi: UInt32 = 0
        var index = 0
        while index + 4 <= bytes.count {
            lo = lo &+ get32(bytes, index)
            hi = hi &+ lo
            index += 4
        }
        return UInt64(hi) << 32 | UInt64(lo)
    }

    /// Whether `block` carries a PFN signature and a valid checksum.
    public static func validate(_ block: [UInt8]) -> Bool {
        guard block.count >= size, Array(block[0..<16]) == signature else { return false }
        var zeroed = Array(block[0..<size])
        let stored = get64(zeroed, checksumOffset)
        put64(&zeroed, checksumOffset, 0)
        return fletcher64(zeroed) == stored
    }

    public static func decode(_ block: [UInt8]) -> PFNHeader? {
        guard validate(block) else { return nil }
        var header = PFNHeader(dataOffset: get64(block, 56), alignment: get32(block, 84))
        header.versionMajor = UInt16(block[52]) | UInt16(block[53]) << 8
        header.versionMinor = UInt16(block[54]) | UInt16(block[55]) << 8
        header.mode = get32(block, 72)
        return header
    }
}
