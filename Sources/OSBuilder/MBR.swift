/// A classic MS-DOS partition table with one primary partition (the root filesystem) and, for
/// a measured rootfs, a second one holding its dm-verity hash tree, as parted writes it.
public struct MBR: Sendable, Equatable {
    public static let sectorSize: UInt64 = 512
    /// Linux native partition type.
    public static let linuxType: UInt8 = 0x83

    /// A further primary partition (entry 2).
    public struct Entry: Sendable, Equatable {
        public var startSector: UInt32
        public var sectorCount: UInt32
        public var type: UInt8 = MBR.linuxType

        public init(startSector: UInt32, sectorCount: UInt32) {
            self.startSector = startSector
            self.sectorCount = sectorCount
        }
    }

    public var diskSignature: UInt32
    public var startSector: UInt32
    public var sectorCount: UInt32
    public var type: UInt8 = MBR.linuxType
    /// Partition 2 (the verity hash partition), when present.
    public var second: Entry?

    public init(diskSignature: UInt32, startSector: UInt32, sectorCount: UInt32) {
        self.diskSignature = diskSignature
        self.startSector = startSector
        self.sectorCount = sectorCount
    }

    /// Cylinder/head/sector triple for an LBA with the 255/63 geometry; past 1024 cylinders
    /// the maximum value is stored, as every partitioning tool does.
    static func chs(_ lba: UInt32) -> [UInt8] {
        let perCylinder: UInt32 = 255 * 63
        let cylinder = lba / perCylinder
        guard cylinder < 1024 else { return [0xfe, 0xff, 0xff] }
        let head = (lba / 63) % 255
        let sector = lba % 63 + 1
        return [UInt8(head), UInt8(sector) | UInt8((cylinder >> 2) & 0xc0), UInt8(cylinder & 0xff)]
    }

    /// The 512-byte sector.
    public func encoded() -> [UInt8] {
        var sector = [UInt8](repeating: 0, count: 512)
        put32(&sector, 440, diskSignature)
        Self.putEntry(&sector, 446, start: startSector, count: sectorCount, type: type)
        if let second {
            Self.putEntry(&sector, 446 + 16, start: second.startSector, count: second.sectorCount, type: second.type)
        }
        sector[510] = 0x55
        sector[511] = 0xaa
        return sector
    }

    private static func putEntry(_ sector: inout [UInt8], _ entry: Int, start: UInt32, count: UInt32, type: UInt8) {
        sector[entry] = 0x00  // not bootable: the kernel is loaded by the hypervisor
        sector.replaceSubrange(entry + 1..<entry + 4, with: chs(start))
        sector[entry + 4] = type
        sector.replaceSubrange(entry + 5..<entry + 8, with: chs(start &+ count &- 1))
        put32(&sector, entry + 8, start)
        put32(&sector, entry + 12, count)
    }

    /// Parses a sector; nil when the 0x55AA signature or the first partition is missing.
    public static func decode(_ bytes: [UInt8]) -> MBR? {
        guard bytes.count >= 512, bytes[510] == 0x55, bytes[511] == 0xaa else { return nil }
        let start = get32(bytes, 446 + 8)
        let count = get32(bytes, 446 + 12)
        guard count > 0 else { return nil }
        var mbr = MBR(diskSignature: get32(bytes, 440), startSector: start, sectorCount: count)
        mbr.type = bytes[446 + 4]
        let secondCount = get32(bytes, 462 + 12)
        if secondCount > 0 {
            var entry = Entry(startSector: get32(bytes, 462 + 8), sectorCount: secondCount)
            entry.type = bytes[462 + 4]
            mbr.second = entry
        }
        return mbr
    }
}

func put32(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt32) {
    for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(index))) }
}

func put16(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt16) {
    bytes[offset] = UInt8(truncatingIfNeeded: value)
    bytes[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
}

func put64(_ bytes: inout [UInt8], _ offset: Int, _ value: UInt64) {
    for index in 0..<8 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(index))) }
}

func get32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
    var value: UInt32 = 0
    for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
    return value
}

func get64(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
    var value: UInt64 = 0
    for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
    return value
}
