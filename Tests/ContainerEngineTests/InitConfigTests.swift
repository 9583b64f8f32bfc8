@testable import ContainerEngine
import OCISpec
import XCTest

/// What the agent sends a container init: only the parts of the spec the init uses.
final class InitConfigTests: XCTestCase {
    func testSpecLeavesOutWhatOnlyTheAgentUses() {
        var spec = TestSpecs.basic(["true"])
        spec.annotations = ["a": "b"]
        spec.linux?.resources = LinuxResources(pids: LinuxPids(limit: 10))
        spec.linux?.uidMappings = [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)]
        spec.linux?.gidMappings = [LinuxIDMapping(containerID: 0, hostID: 1000, size: 1)]
        spec.linux?.sysctl = ["net.ipv4.ip_forward": "1"]
        let process = spec.process ?? Process(args: ["true"], cwd: "/")
        let config = InitConfig(mode: .create, containerID: "c", process: process, spec: spec)
        XCTAssertEqual(config.process, process)
        XCTAssertNil(config.spec.process)
        XCTAssertNil(config.spec.annotations)
        XCTAssertNil(config.spec.linux?.resources)
        XCTAssertNil(config.spec.linux?.uidMappings)
        XCTAssertNil(config.spec.linux?.gidMappings)
        // What the init does use stays.
        XCTAssertEqual(config.spec.mounts, spec.mounts)
        XCTAssertEqual(config.spec.linux?.namespaces, spec.linux?.namespaces)
        XCTAssertEqual(config.spec.linux?.sysctl, spec.linux?.sysctl)
        XCTAssertEqual(config.spec.linux?.maskedPaths, spec.linux?.maskedPaths)
        XCTAssertEqual(config.spec.hostname, spec.hostname)
        XCTAssertEqual(config.spec.root, spec.root)
    }
}
