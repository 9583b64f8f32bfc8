import Foundation

/// Just enough ELF parsing to tell a static executable from a dynamic one.
public enum ELFLinkage: Sendable, Equatable {
    case notELF
    /// No PT_INTERP: runs without a dynamic loader in the guest.
    case staticExecutable
    /// Needs this interpreter (e.g. /lib64/ld-linux-x86-64.so.2).
    case dynamic(interpreter: String)

    /// Classifies the ELF image in `data` (its first bytes suffice if they cover the program headers).
    public static func classify(_ data: Data) -> ELFLinkage {
        let bytes = [UInt8](data)
        guard bytes.count >= 64, bytes[0] == 0x7f, bytes[1] == 0x45, bytes[2] == 0x4c, bytes[3] == 0x46 else { return .notELF }
        let is64 = bytes[4] == 2
        guard bytes[5] == 1 else { return .notELF }  // little-endian only (x86_64, aarch64)
        func u16(_ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
        func u32(_ offset: Int) -> Int { Int(get32(bytes, offset)) }
        func u64(_ offset: Int) -> Int { Int(truncatingIfNeeded: get64(bytes, offset)) }
        let phoff = is64 ? u64(32) : u32(28)
        let phentsize = is64 ? u16(54) : u16(42)
        let phnum = is64 ? u16(56) : u16(44)
        guard phoff > 0, phentsize >= (is64 ? 56 : 32) else { return .notELF }
        for index in 0..<phnum {
            // Offsets and sizes come from the file: any of them may be near Int.max.
            let (scaled, overflowed) = index.multipliedReportingOverflow(by: phentsize)
            let (base, overflowedAgain) = phoff.addingReportingOverflow(scaled)
            guard !overflowed, !overflowedAgain, base >= 0, base <= bytes.count - phentsize else { break }
            guard u32(base) == 3 else { continue }  // PT_INTERP
            let offset = is64 ? u64(base + 8) : u32(base + 4)
            let size = is64 ? u64(base + 32) : u32(base + 16)
            guard offset >= 0, size > 0, size <= bytes.count, offset <= bytes.count - size else {
                return .dynamic(interpreter: "?")
            }
            let name = bytes[offset..<offset + size].prefix(while: { $0 != 0 })
            return .dynamic(interpreter: String(decoding: name, as: UTF8.self))
        }
        return .staticExecutable
    }
}
