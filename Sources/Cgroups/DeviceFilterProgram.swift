import OCISpec

/// One eBPF instruction (struct bpf_insn), encoded little-endian as the kernel reads it.
public struct BPFInstruction: Sendable, Equatable {
    public var code: UInt8
    public var dst: UInt8
    public var src: UInt8
    public var offset: Int16
    public var immediate: Int32

    public init(code: UInt8, dst: UInt8 = 0, src: UInt8 = 0, offset: Int16 = 0, immediate: Int32 = 0) {
        self.code = code
        self.dst = dst
        self.src = src
        self.offset = offset
        self.immediate = immediate
    }

    /// The 8 bytes of struct bpf_insn (x86_64 is little-endian; dst in the low nibble).
    var bytes: [UInt8] {
        let off = UInt16(bitPattern: offset)
        let imm = UInt32(bitPattern: immediate)
        return [code, (src << 4) | (dst & 0x0f), UInt8(off & 0xff), UInt8(off >> 8),
                UInt8(imm & 0xff), UInt8((imm >> 8) & 0xff), UInt8((imm >> 16) & 0xff), UInt8(imm >> 24)]
    }

    // Opcodes used by the device filter (linux/bpf.h, linux/bpf_common.h).
    static func loadWord(dst: UInt8, src: UInt8, offset: Int16) -> BPFInstruction {
        BPFInstruction(code: 0x61, dst: dst, src: src, offset: offset)  // BPF_LDX|BPF_MEM|BPF_W
    }
    static func and32(dst: UInt8, _ imm: Int32) -> BPFInstruction { BPFInstruction(code: 0x54, dst: dst, immediate: imm) }
    static func rsh32(dst: UInt8, _ imm: Int32) -> BPFInstruction { BPFInstruction(code: 0x74, dst: dst, immediate: imm) }
    static func mov64Reg(dst: UInt8, src: UInt8) -> BPFInstruction { BPFInstruction(code: 0xbf, dst: dst, src: src) }
    static func mov32(dst: UInt8, _ imm: Int32) -> BPFInstruction { BPFInstruction(code: 0xb4, dst: dst, immediate: imm) }
    static func jumpIfNotEqual(dst: UInt8, _ imm: Int32, offset: Int16) -> BPFInstruction {
        BPFInstruction(code: 0x55, dst: dst, offset: offset, immediate: imm)  // BPF_JMP|BPF_JNE|BPF_K
    }
    static func jumpIfEqual(dst: UInt8, _ imm: Int32, offset: Int16) -> BPFInstruction {
        BPFInstruction(code: 0x15, dst: dst, offset: offset, immediate: imm)  // BPF_JMP|BPF_JEQ|BPF_K
    }
    static let exit = BPFInstruction(code: 0x95)
}

/// Builds the BPF_PROG_TYPE_CGROUP_DEVICE program that enforces device rules on cgroup v2.
///
/// The rules are first reduced as v1 would apply them in order: a full wildcard rule
/// ("a *:* rwm") resets the default and forgets earlier rules. The program then tests the
/// remaining rules last to first (a later rule overrides an earlier one); the first match
/// decides, otherwise the default does. An allow rule matches when every requested access bit
/// is in the rule; a deny rule matches when any requested bit is.
public struct DeviceFilterProgram: Sendable, Equatable {
    public let defaultAllow: Bool
    public let rules: [DeviceRule]
    public let instructions: [BPFInstruction]

    /// Device type codes in bpf_cgroup_dev_ctx.access_type's low 16 bits.
    static let blockType: Int32 = 1
    static let charType: Int32 = 2

    public init(rules specRules: [LinuxDeviceCgroup]) throws {
        var defaultAllow = true
        var rules: [DeviceRule] = []
        for specRule in specRules {
            let rule = try DeviceRule(specRule)
            if rule.isWildcard {
                defaultAllow = rule.allow
                rules.removeAll()
            } else {
                rules.append(rule)
            }
        }
        self.defaultAllow = defaultAllow
        self.rules = rules
        self.instructions = try Self.assemble(rules: rules, defaultAllow: defaultAllow)
    }

    static func assemble(rules: [DeviceRule], defaultAllow: Bool) throws -> [BPFInstruction] {
        // r1 = ctx {u32 access_type; u32 major; u32 minor}; r2 type, r3 access, r4 major, r5 minor.
        var program: [BPFInstruction] = [
            .loadWord(dst: 2, src: 1, offset: 0), .and32(dst: 2, 0xffff),
            .loadWord(dst: 3, src: 1, offset: 0), .rsh32(dst: 3, 16),
            .loadWord(dst: 4, src: 1, offset: 4), .loadWord(dst: 5, src: 1, offset: 8),
        ]
        for rule in rules.reversed() {
            // Each check jumps past the rest of this block to the next one on mismatch; the
            // distance is filled in once the block's length is known.
            var block: [(BPFInstruction, jumpsToEnd: Bool)] = []
            switch rule.kind {
            case .all: break
            case .char: block.append((.jumpIfNotEqual(dst: 2, charType, offset: 0), true))
            case .block: block.append((.jumpIfNotEqual(dst: 2, blockType, offset: 0), true))
            }
            if rule.access != .all {
                let bits = Int32(rule.access.rawValue)
                block.append((.mov64Reg(dst: 1, src: 3), false))
                if rule.allow {
                    block.append((.and32(dst: 1, ~bits & 0x7), false))
                    block.append((.jumpIfNotEqual(dst: 1, 0, offset: 0), true))
                } else {
                    block.append((.and32(dst: 1, bits), false))
                    block.append((.jumpIfEqual(dst: 1, 0, offset: 0), true))
                }
            }
            if let major = rule.major {
                block.append((.jumpIfNotEqual(dst: 4, try immediate(major, "major"), offset: 0), true))
            }
            if let minor = rule.minor {
                block.append((.jumpIfNotEqual(dst: 5, try immediate(minor, "minor"), offset: 0), true))
            }
            block.append((.mov32(dst: 0, rule.allow ? 1 : 0), false))
            block.append((.exit, false))
            for (index, entry) in block.enumerated() {
                var instruction = entry.0
                if entry.jumpsToEnd { instruction.offset = Int16(block.count - index - 1) }
                program.append(instruction)
            }
        }
        program.append(.mov32(dst: 0, defaultAllow ? 1 : 0))
        program.append(.exit)
        guard program.count < 4096 else {
            throw CgroupError.invalidResource("\(rules.count) device rules exceed the BPF program size limit")
        }
        return program
    }

    /// Device numbers are u32 in the context; BPF immediates are s32 compared as u32 bit patterns.
    private static func immediate(_ value: Int64, _ name: String) throws -> Int32 {
        guard value >= 0, value <= Int64(UInt32.max) else {
            throw CgroupError.invalidResource("device \(name) \(value) is out of range")
        }
        return Int32(bitPattern: UInt32(value))
    }

    /// The program's bytes, ready for BPF_PROG_LOAD.
    public var bytes: [UInt8] { instructions.flatMap(\.bytes) }

    /// Evaluates the program's rules the way the kernel would run it (for tests and logs).
    public func allows(kind: DeviceRule.Kind, major: UInt32, minor: UInt32, access: DeviceRule.Access) -> Bool {
        for rule in rules.reversed() {
            if rule.kind != .all && rule.kind != kind { continue }
            if rule.access != .all {
                if rule.allow && !access.subtracting(rule.access).isEmpty { continue }
                if !rule.allow && access.intersection(rule.access).isEmpty { continue }
            }
            if let ruleMajor = rule.major, ruleMajor != Int64(major) { continue }
            if let ruleMinor = rule.minor, ruleMinor != Int64(minor) { continue }
            return rule.allow
        }
        return defaultAllow
    }
}
