import OCISpec
import XCTest
@testable import Sandbox

/// The pod rule that adds a cgroup namespace on cgroup v2 (the runtime strips it from the spec).
final class PodNamespaceRuleTests: XCTestCase {
    private let goRuntime = ["ipc", "uts", "mount", "pid"].map { LinuxNamespace(type: $0) }

    func testCgroupV2AddsACgroupNamespace() {
        let namespaces = PodContainers.withCgroupNamespace(goRuntime, unifiedHierarchy: true)
        XCTAssertEqual(namespaces.filter { $0.type == "cgroup" }, [LinuxNamespace(type: "cgroup")])
    }

    func testCgroupV1AndAnExistingEntryAreLeftAsTheyAre() {
        XCTAssertEqual(PodContainers.withCgroupNamespace(goRuntime, unifiedHierarchy: false), goRuntime)
        let joined = goRuntime + [LinuxNamespace(type: "cgroup", path: "/proc/1/ns/cgroup")]
        XCTAssertEqual(PodContainers.withCgroupNamespace(joined, unifiedHierarchy: true), joined)
    }
}
