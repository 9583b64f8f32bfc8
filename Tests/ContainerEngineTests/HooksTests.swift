import ContainerEngine
import Foundation
import LinuxKit
import OCISpec
import XCTest

final class HooksTests: XCTestCase {
    var directory = ""
    var reaper: Reaper?

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "hooks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        reaper?.shutdown()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func runner() throws -> HookRunner {
        let reaper = try Reaper(mode: .registeredOnly)
        self.reaper = reaper
        return HookRunner(reaper: reaper)
    }

    let state = State(id: "c1", status: "created", pid: 42, bundle: "/run/kata-containers/c1")

    func sh(_ script: String, env: [String]? = nil, timeout: Int? = nil) -> Hook {
        Hook(path: "/bin/sh", args: ["sh", "-c", script], env: env, timeout: timeout)
    }

    func testStateOnStdinArgsAndEnv() async throws {
        let out = directory + "/out"
        try await runner().run([sh("cat > \(out).json; echo \"$HOOK_VAR $0\" > \(out).txt", env: ["HOOK_VAR=hello"])],
                               kind: .prestart, state: state)
        let decoded = try JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: out + ".json")))
        XCTAssertEqual(decoded, state)
        XCTAssertEqual(try String(contentsOfFile: out + ".txt", encoding: .utf8), "hello sh\n")
    }

    func testFailureNamesHookAndStatusAndStopsTheRest() async throws {
        let marker = directory + "/second-ran"
        do {
            try await runner().run([sh("echo boom >&2; exit 3"), sh("touch \(marker)")], kind: .poststart, state: state)
            XCTFail("a failing hook must throw")
        } catch let error as HookError {
            guard case let .failed(kind, path, status, output) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(kind, .poststart)
            XCTAssertEqual(path, "/bin/sh")
            XCTAssertEqual(status, 3)
            XCTAssertEqual(output, "boom")
            XCTAssertTrue(error.description.contains("/bin/sh") && error.description.contains("3"), error.description)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker))
    }

    func testRunAllContinuesPastFailures() async throws {
        let marker = directory + "/third-ran"
        let failures = try await runner().runAll([sh("exit 4"), sh("exit 5"), sh("touch \(marker)")], kind: .poststop, state: state)
        XCTAssertEqual(failures.compactMap { error -> Int32? in
            guard case let .failed(_, _, status, _)? = error as? HookError else { return nil }
            return status
        }, [4, 5])
        XCTAssertTrue(FileManager.default.fileExists(atPath: marker))
    }

    func testTimeoutKillsTheHookAndItsChildren() async throws {
        let pidFile = directory + "/child.pid"
        do {
            try await runner().run([sh("sleep 300 & echo $! > \(pidFile); wait", timeout: 1)], kind: .createRuntime, state: state)
            XCTFail("the hook must time out")
        } catch let error as HookError {
            XCTAssertEqual(error, .timeout(kind: .createRuntime, path: "/bin/sh", seconds: 1))
            XCTAssertTrue(error.description.contains("/bin/sh"))
        }
        let childText = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let child = try XCTUnwrap(Int32(childText))
        // The background sleep was in the hook's process group: it must be dead (gone or a zombie).
        let deadline = Date().addingTimeInterval(10)
        var alive = true
        while alive && Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z ")
            if alive { usleep(10_000) }
        }
        XCTAssertFalse(alive, "hook child \(child) survived the timeout")
    }

    func testAFailedHooksBackgroundChildrenAreKilled() async throws {
        let pidFile = directory + "/child.pid"
        do {
            try await runner().run([sh("sleep 300 & echo $! > \(pidFile); exit 2")], kind: .prestart, state: state)
            XCTFail("the hook must fail")
        } catch let error as HookError {
            guard case let .failed(kind, _, status, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(kind, .prestart)
            XCTAssertEqual(status, 2)
        }
        let childText = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let child = try XCTUnwrap(Int32(childText))
        let deadline = Date().addingTimeInterval(10)
        var alive = true
        while alive && Date() < deadline {
            let stat = (try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8)) ?? ""
            alive = !stat.isEmpty && !stat.contains(") Z ")
            if alive { usleep(10_000) }
        }
        XCTAssertFalse(alive, "a failed hook's child \(child) survived")
    }

    func testInvalidHooks() async throws {
        let runner = try runner()
        for (hook, reason) in [(Hook(path: "relative/hook"), "absolute"), (Hook(path: "/bin/true", timeout: 0), "timeout")] {
            do {
                try await runner.run([hook], kind: .poststop, state: state)
                XCTFail("\(hook) must be refused")
            } catch let error as HookError {
                XCTAssertTrue(error.description.contains(reason) && error.description.contains(hook.path), error.description)
            }
        }
        do {
            try await runner.run([Hook(path: directory + "/missing")], kind: .prestart, state: state)
            XCTFail("a missing hook must fail")
        } catch let error as HookError {
            XCTAssertTrue(error.description.contains(directory + "/missing"), error.description)
        }
    }

    func testGuestHooksComeAfterSpecHooksOfTheSameType() {
        let spec = Hooks(prestart: [Hook(path: "/spec/pre")], createRuntime: [Hook(path: "/spec/cr")], poststop: [Hook(path: "/spec/stop")])
        let guest = Hooks(prestart: [Hook(path: "/guest/pre", args: ["/guest/pre", "prestart"])],
                          createRuntime: [Hook(path: "/guest/ignored")],
                          poststart: [Hook(path: "/guest/post")], poststop: [Hook(path: "/guest/stop")])
        let merged = HookOrdering.merged(spec: spec, guest: guest)
        XCTAssertEqual(merged.prestart?.map(\.path), ["/spec/pre", "/guest/pre"])
        XCTAssertEqual(merged.poststart?.map(\.path), ["/guest/post"])
        XCTAssertEqual(merged.poststop?.map(\.path), ["/spec/stop", "/guest/stop"])
        XCTAssertEqual(merged.createRuntime?.map(\.path), ["/spec/cr"])
        XCTAssertEqual(HookOrdering.merged(spec: nil, guest: nil), Hooks())
        XCTAssertEqual(HookKind.poststop.hooks(in: merged).count, 2)
    }
}

/// The agent <-> init messages that carry the hook sync points and states.
final class HookSyncMessageTests: XCTestCase {
    func testHookMessagesAndStatesRoundTrip() throws {
        let state = State(id: "c1", status: "created", pid: 4242, bundle: "/run/kata-containers/c1", annotations: ["a": "b"])
        for message in [SyncMessage(kind: .hooks), SyncMessage(kind: .hooksDone), SyncMessage(kind: .start, state: state)] {
            let decoded = try JSONDecoder().decode(SyncMessage.self, from: JSONEncoder().encode(message))
            XCTAssertEqual(decoded, message)
        }
        // An older peer's message without a state still decodes.
        let old = try JSONDecoder().decode(SyncMessage.self, from: Data(#"{"kind":"start"}"#.utf8))
        XCTAssertNil(old.state)
    }
}
