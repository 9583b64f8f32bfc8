import OCISpec
import XCTest
@testable import Cgroups

final class DeviceFilterProgramTests: XCTestCase {
    func testDenyAllThenAllowSome() throws {
        let program = try DeviceFilterProgram(rules: [
            LinuxDeviceCgroup(allow: false, access: "rwm"),
            LinuxDeviceCgroup(allow: true, type: "c", major: 1, minor: 3, access: "rw"),
            LinuxDeviceCgroup(allow: true, type: "c", major: 136, access: "rwm"),
            LinuxDeviceCgroup(allow: false, type: "c", major: 136, minor: 7, access: "w"),
        ])
        XCTAssertFalse(program.defaultAllow)
        XCTAssertEqual(program.rules.count, 3)
        XCTAssertTrue(program.allows(kind: .char, major: 1, minor: 3, access: [.read, .write]))
        XCTAssertFalse(program.allows(kind: .char, major: 1, minor: 3, access: .mknod))
        XCTAssertFalse(program.allows(kind: .block, major: 1, minor: 3, access: .read))
        XCTAssertTrue(program.allows(kind: .char, major: 136, minor: 1, access: .all))
        XCTAssertTrue(program.allows(kind: .char, major: 136, minor: 7, access: .read))
        XCTAssertFalse(program.allows(kind: .char, major: 136, minor: 7, access: [.read, .write]))
        XCTAssertFalse(program.allows(kind: .char, major: 5, minor: 1, access: .read))
        // Header (6) + last rule (type, mov, and, jeq, major, minor, r0, exit = 8) + ...; ends in "r0 = 0; exit".
        XCTAssertEqual(program.instructions.suffix(2), [BPFInstruction(code: 0xb4, dst: 0, immediate: 0), BPFInstruction(code: 0x95)])
        XCTAssertEqual(program.bytes.count, program.instructions.count * 8)
    }

    func testJumpOffsetsLandOnNextBlock() throws {
        let program = try DeviceFilterProgram(rules: [
            LinuxDeviceCgroup(allow: false, access: "rwm"),
            LinuxDeviceCgroup(allow: true, type: "b", major: 8, minor: 0, access: "r"),
        ])
        // Block: jne type, mov, and, jne access, jne major, jne minor, mov r0, exit.
        let block = Array(program.instructions[6..<14])
        XCTAssertEqual(block.map(\.code), [0x55, 0xbf, 0x54, 0x55, 0x55, 0x55, 0xb4, 0x95])
        XCTAssertEqual(block.map(\.offset), [7, 0, 0, 4, 3, 2, 0, 0])
        XCTAssertEqual(block[2].immediate, 0b101)  // any bit beyond "r" (mknod | write) fails the rule
        XCTAssertEqual(program.instructions.count, 16)
    }

    func testWildcardAllowResetsRules() throws {
        let program = try DeviceFilterProgram(rules: [
            LinuxDeviceCgroup(allow: false, type: "c", major: 1, minor: 3),
            LinuxDeviceCgroup(allow: true),
        ])
        XCTAssertTrue(program.defaultAllow)
        XCTAssertTrue(program.rules.isEmpty)
        XCTAssertThrowsError(try DeviceFilterProgram(rules: [LinuxDeviceCgroup(allow: true, type: "c", major: 1 << 40)]))
    }

    func testEncoding() {
        let insn = BPFInstruction(code: 0x61, dst: 3, src: 1, offset: 4, immediate: -1)
        XCTAssertEqual(insn.bytes, [0x61, 0x13, 4, 0, 0xff, 0xff, 0xff, 0xff])
    }

    func testContainerRulesAllowDefaultsAndSpecDevices() throws {
        let rules = DeviceRule.containerRules(
            resources: [LinuxDeviceCgroup(allow: false, access: "rwm")],
            devices: [LinuxDevice(path: "/dev/fuse", type: "c", major: 10, minor: 229),
                      LinuxDevice(path: "/dev/sdb", type: "b", major: 8, minor: 16),
                      LinuxDevice(path: "/dev/fifo", type: "p", major: 0, minor: 0)])
        let program = try DeviceFilterProgram(rules: rules)
        XCTAssertFalse(program.defaultAllow)
        XCTAssertTrue(program.allows(kind: .char, major: 1, minor: 3, access: [.read, .write]))   // /dev/null
        XCTAssertTrue(program.allows(kind: .char, major: 136, minor: 0, access: .read))           // /dev/pts/0
        XCTAssertTrue(program.allows(kind: .char, major: 10, minor: 229, access: .all))           // spec device
        XCTAssertTrue(program.allows(kind: .block, major: 8, minor: 16, access: .write))
        XCTAssertFalse(program.allows(kind: .block, major: 8, minor: 0, access: .read))
        XCTAssertTrue(program.allows(kind: .block, major: 8, minor: 0, access: .mknod))           // mknod of anything
        XCTAssertEqual(rules.count, 2 + DeviceRule.defaultAllowed.count + 2)
    }

    func testContainerRulesDenyWhatTheyDoNotAllowEvenWithoutSpecRules() throws {
        // The Kata runtime sends no device rules: the cgroup must not keep its parent's allow-all.
        let program = try DeviceFilterProgram(rules: DeviceRule.containerRules(resources: nil, devices: nil))
        XCTAssertFalse(program.defaultAllow)
        XCTAssertFalse(program.allows(kind: .block, major: 254, minor: 0, access: .read))         // the guest's disk
        XCTAssertFalse(program.allows(kind: .char, major: 1, minor: 11, access: .read))           // /dev/kmsg
        XCTAssertTrue(program.allows(kind: .char, major: 1, minor: 3, access: [.read, .write]))   // /dev/null
        XCTAssertTrue(program.allows(kind: .char, major: 10, minor: 200, access: .read))          // /dev/net/tun
        // A privileged spec's "allow a" opens everything again.
        let privileged = try DeviceFilterProgram(rules: DeviceRule.containerRules(resources: [LinuxDeviceCgroup(allow: true)], devices: nil))
        XCTAssertTrue(privileged.allows(kind: .block, major: 254, minor: 0, access: .read))
    }

}
