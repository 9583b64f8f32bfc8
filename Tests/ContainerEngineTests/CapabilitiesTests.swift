import ContainerEngine
import OCISpec
import XCTest

final class CapabilitiesTests: XCTestCase {
    func testParsing() throws {
        XCTAssertEqual(try Capability(name: "CAP_CHOWN").number, 0)
        XCTAssertEqual(try Capability(name: "CAP_SYS_ADMIN").number, 21)
        XCTAssertEqual(try Capability(name: "CAP_CHECKPOINT_RESTORE").number, 40)
        XCTAssertEqual(Capability(number: 12).name, "CAP_NET_ADMIN")
        let sets = try CapabilitySets(LinuxCapabilities(bounding: ["CAP_KILL", "CAP_NET_RAW"], effective: ["CAP_KILL"],
                                                        ambient: ["CAP_KILL"]))
        XCTAssertEqual(sets.bounding, [Capability(number: 5), Capability(number: 13)])
        XCTAssertEqual(sets.permitted, [])
        XCTAssertEqual(try CapabilitySets(nil), CapabilitySets())
    }

    func testUnknownNameIsNamed() {
        for bad in ["CAP_FLY", "chown", "CAP_chown", ""] {
            XCTAssertThrowsError(try CapabilitySets(LinuxCapabilities(permitted: ["CAP_CHOWN", bad])), bad) { error in
                XCTAssertEqual(error as? CapabilityError, .unknown(bad))
                XCTAssertTrue("\(error)".contains("\"\(bad)\""))
            }
        }
    }

    func testKernelLastCapability() {
        XCTAssertGreaterThanOrEqual(CapabilityApplier.kernelLastCapability(), 36)
    }

    /// Applied in a child (security-probe), read back from its /proc/self/status.
    func testAppliedInChild() throws {
        try SecurityProbe.requireRoot()
        let output = try SecurityProbe.run(SecurityProbe.Config(
            capabilities: LinuxCapabilities(bounding: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                                            effective: ["CAP_CHOWN", "CAP_KILL"], inheritable: ["CAP_KILL"],
                                            permitted: ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"], ambient: ["CAP_KILL", "CAP_CHOWN"]),
            probes: ["status"]))
        XCTAssertEqual(output["CapBnd"], SecurityProbe.mask([0, 5, 10]), "\(output)")
        XCTAssertEqual(output["CapEff"], SecurityProbe.mask([0, 5]), "\(output)")
        XCTAssertEqual(output["CapPrm"], SecurityProbe.mask([0, 5, 10]), "\(output)")
        XCTAssertEqual(output["CapInh"], SecurityProbe.mask([5]), "\(output)")
        XCTAssertEqual(output["CapAmb"], SecurityProbe.mask([5]), "\(output)")
        XCTAssertTrue(output.warnings.contains { $0.contains("CAP_CHOWN") && $0.contains("ambient") }, "\(output.warnings)")
    }

    /// runc's order around setuid: the permitted set survives the switch to a non-root user.
    func testCapabilitiesSurviveSetuid() throws {
        try SecurityProbe.requireRoot()
        let output = try SecurityProbe.run(SecurityProbe.Config(
            capabilities: LinuxCapabilities(bounding: ["CAP_NET_BIND_SERVICE"], effective: ["CAP_NET_BIND_SERVICE"],
                                            permitted: ["CAP_NET_BIND_SERVICE"]),
            uid: 65534, gid: 65534, probes: ["status"]))
        XCTAssertEqual(output["CapEff"], SecurityProbe.mask([10]), "\(output)")
        XCTAssertEqual(output["CapPrm"], SecurityProbe.mask([10]), "\(output)")
        XCTAssertEqual(output["CapBnd"], SecurityProbe.mask([10]), "\(output)")
    }
}
