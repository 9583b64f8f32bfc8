import ContainerEngine
import Foundation
import OCISpec
import XCTest

/// The same bundle, with one HookProbe hook of every kind, run by Debian's runc and by our
/// engine. Compared per hook kind, in the order the hooks ran: the hook's mount and pid
/// namespace (the runtime's, the container's, or another), whether the rootfs was pivoted,
/// whether the container's mounts were visible under the rootfs path, and the state's status.
/// The container's namespaces are taken from the createRuntime hook's view of the state pid.
/// Not compared: the state pid itself (runc's createContainer/startContainer hooks get the init's
/// getpid(), 1 in its pid namespace; ours get the pid the agent sees, as runtime.md asks), and
/// poststart's status and position: runc 1.1 runs poststart as soon as the init opened its exec
/// fifo, concurrently with the startContainer hooks and before the exec, with status "created";
/// we run it after the exec (config.md: "after the user-specified process is executed") with
/// status "running", which is checked on its own.
final class HookDifferentialTests: XCTestCase {
    var harness: DifferentialHarness?
    var logDirectory = ""

    override func setUpWithError() throws {
        let harness = try DifferentialHarness()
        self.harness = harness
        XCTAssertTrue(FileManager.default.createFile(atPath: harness.rootfs.rootfs + "/" + HookProbe.marker, contents: Data()))
        logDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("hook-diff-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
    }

    override func tearDown() async throws {
        await harness?.cleanup()
        harness = nil
        try? FileManager.default.removeItem(atPath: logDirectory)
    }

    /// Each hook's line reduced to what must match between runtimes.
    func observations(_ lines: [HookProbe.Line]) -> [String] {
        let runtimeMnt = HookProbe.namespace("self", "mnt")
        let runtimePidNS = HookProbe.namespace("self", "pid")
        let createRuntime = lines.first { $0.kind == "createRuntime" }
        let containerMnt = createRuntime?.fields["statemnt"] ?? "?"
        let containerPidNS = createRuntime?.fields["statepidns"] ?? "?"
        func relation(_ value: String?, runtime: String, container: String) -> String {
            switch value {
            case runtime?: return "runtime"
            case container?: return "container"
            default: return "other(\(value ?? "-"))"
            }
        }
        return lines.map { line in
            let mnt = relation(line.fields["mnt"], runtime: runtimeMnt, container: containerMnt)
            let pid = relation(line.fields["pidns"], runtime: runtimePidNS, container: containerPidNS)
            let root = line.fields["root"] ?? "-"
            let status = line.fields["status"] ?? "-"
            // Mounts under the rootfs path only say something before the pivot.
            let mounts = root == "runtime" ? line.fields["mounts"] ?? "-" : "n/a"
            return "\(line.kind): mnt=\(mnt) pidns=\(pid) root=\(root) mounts=\(mounts) status=\(status)"
        }
    }

    func testHookNamespacesAndTimingMatchRunc() async throws {
        let harness = try XCTUnwrap(harness)
        let hooks = HookProbe.hooks(hostLogDirectory: logDirectory, rootfs: harness.rootfs.rootfs)
        let hooksJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(hooks))
        let mountJSON = try JSONSerialization.jsonObject(with: JSONEncoder().encode(HookProbe.logMount(logDirectory)))
        var edited = SpecJSON.setting(harness.baseSpec, ["hooks"], hooksJSON)
        let mounts = (SpecJSON.value(edited, ["mounts"]) as? [Any] ?? []) + [mountJSON]
        edited = SpecJSON.setting(edited, ["mounts"], mounts)
        // The workload's line separates startContainer from poststart in both runs.
        edited = SpecJSON.setting(edited, ["process", "args"],
                                  ["sh", "-c", "echo workload >> \(HookProbe.containerLogDirectory)/\(HookProbe.logName)"])
        let data = try harness.writeConfig(edited)
        let spec = try Spec.decode(data)
        let suffix = UUID().uuidString.prefix(8).lowercased()
        let logFile = logDirectory + "/" + HookProbe.logName

        let runc = try harness.runRunc(id: "hookdiff-runc-\(suffix)")
        let runcLines = HookProbe.read(logDirectory)
        try? FileManager.default.removeItem(atPath: logFile)
        let ours = try await harness.runEngine(id: "hookdiff-ours-\(suffix)", spec: spec)
        let ourLines = HookProbe.read(logDirectory)

        let context = """
            --- runc (status \(runc.status)) stderr:
            \(runc.stderr)
            --- runc hooks:
            \(runcLines.map { "\($0)" }.joined(separator: "\n"))
            --- engine (status \(ours.status)) stderr:
            \(ours.stderr)
            --- engine hooks:
            \(ourLines.map { "\($0)" }.joined(separator: "\n"))
            """
        XCTAssertEqual(runc.status, 0, context)
        XCTAssertEqual(ours.status, 0, context)
        // runc runs poststart after its start returned, racing the workload; so do we.
        func ordered(_ lines: [String]) -> [String] {
            lines.filter { !$0.hasPrefix("workload") && !$0.hasPrefix("poststart") }
                + lines.filter { $0.hasPrefix("poststart") }
        }
        func masked(_ lines: [String]) -> [String] {
            lines.map { $0.hasPrefix("poststart:") ? $0.replacingOccurrences(of: #"status=\w+"#, with: "status=*", options: .regularExpression) : $0 }
        }
        let want = masked(ordered(observations(runcLines)))
        let got = masked(ordered(observations(ourLines)))
        XCTAssertEqual(ourLines.first { $0.kind == "poststart" }?.fields["status"], "running", context)
        XCTAssertEqual(want.count, 6, context)
        XCTAssertEqual(got, want, context)
        // The expectation written out, so that runc's behaviour itself is pinned too.
        XCTAssertEqual(want, [
            "prestart: mnt=runtime pidns=runtime root=runtime mounts=absent status=creating",
            "createRuntime: mnt=runtime pidns=runtime root=runtime mounts=absent status=creating",
            "createContainer: mnt=container pidns=container root=runtime mounts=visible status=creating",
            "startContainer: mnt=container pidns=container root=container mounts=n/a status=created",
            "poststop: mnt=runtime pidns=runtime root=runtime mounts=absent status=stopped",
            "poststart: mnt=runtime pidns=runtime root=runtime mounts=absent status=*",
        ], context)
    }
}
