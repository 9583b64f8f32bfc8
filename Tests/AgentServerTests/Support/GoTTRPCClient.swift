import Foundation
import XCTest

/// containerd/ttrpc's own Go client (Tests/interop/ttrpc-go), built with Debian's Go in GOPATH
/// mode from golang-github-containerd-ttrpc-dev and golang-google-protobuf-dev (no network, no
/// generated Go code: messages are dynamicpb from protoc's descriptor set of protos/).
///
/// The binary and the descriptor set are cached under .build/ttrpc-interop/<hash of the Go
/// sources and protos>. `run` feeds it a script of JSON steps and returns one JSON object per
/// step (see main.go for the steps); every answer has "code" and "message".
enum GoTTRPCClient {
    static let package = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let sources = package.appendingPathComponent("Tests/interop/ttrpc-go")
    static let protos = package.appendingPathComponent("protos")
    static let protoFiles = ["agent.proto", "health.proto", "grpc_health_v1.proto"]
    static let buildDeadline: TimeInterval = 900
    static let runDeadline: TimeInterval = 300

    /// The built client and its descriptor set; XCTSkip when Go is missing (a failure under CI).
    static func prepare() throws -> (binary: String, descriptors: String) {
        guard let go = executable("go") else {
            let message = "go not found: apt-get install golang-go golang-github-containerd-ttrpc-dev golang-google-protobuf-dev (make deps)"
            if let ci = ProcessInfo.processInfo.environment["CI"], !ci.isEmpty { XCTFail(message) }
            throw XCTSkip(message)
        }
        guard let protoc = executable("protoc") else { throw XCTSkip("protoc not found: apt-get install protobuf-compiler") }
        let goFiles = try FileManager.default.contentsOfDirectory(atPath: sources.path)
            .filter { $0.hasSuffix(".go") }.sorted()
        var hashed = Data()
        for name in goFiles { hashed.append(try Data(contentsOf: sources.appendingPathComponent(name))) }
        for name in protoFiles { hashed.append(try Data(contentsOf: protos.appendingPathComponent(name))) }
        let directory = package.appendingPathComponent(".build/ttrpc-interop/\(fnv1a(hashed))")
        let binary = directory.appendingPathComponent("ttrpc-interop").path
        let descriptors = directory.appendingPathComponent("protos.pb").path
        if FileManager.default.isExecutableFile(atPath: binary), FileManager.default.fileExists(atPath: descriptors) {
            return (binary, descriptors)
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let partialSet = descriptors + ".partial"
        try check(run(protoc, ["-I" + protos.path, "--descriptor_set_out=" + partialSet, "--include_imports"] + protoFiles,
                      deadline: 120), "protoc --descriptor_set_out")
        let partialBinary = binary + ".partial"
        var environment = ProcessInfo.processInfo.environment
        environment["GO111MODULE"] = "off"
        environment["GOPATH"] = "/usr/share/gocode"
        environment["GOCACHE"] = package.appendingPathComponent(".build/ttrpc-interop/gocache").path
        environment["GOFLAGS"] = nil
        environment["GOPROXY"] = "off"
        try check(run(go, ["build", "-o", partialBinary] + goFiles.map { sources.appendingPathComponent($0).path },
                      environment: environment, deadline: buildDeadline), "go build of \(sources.path)")
        _ = try? FileManager.default.removeItem(atPath: descriptors)
        try FileManager.default.moveItem(atPath: partialSet, toPath: descriptors)
        _ = try? FileManager.default.removeItem(atPath: binary)
        try FileManager.default.moveItem(atPath: partialBinary, toPath: binary)
        return (binary, descriptors)
    }

    /// Runs `steps` over one ttrpc connection to `address`; one result per step, in order.
    static func run(_ steps: [[String: Any]], address: String, in testCase: XCTestCase,
                    file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let (binary, descriptors) = try prepare()
        let directory = try makeTemporaryDirectory(for: testCase, "ttrpc-go")
        let script = directory + "/script.jsonl"
        let lines = try steps.map { String(decoding: try JSONSerialization.data(withJSONObject: $0), as: UTF8.self) }
        try (lines.joined(separator: "\n") + "\n").write(toFile: script, atomically: true, encoding: .utf8)
        let result = try run(binary, ["-addr", address, "-descriptors", descriptors, "-script", script], deadline: runDeadline)
        guard result.status == 0 else {
            XCTFail("ttrpc-interop exited \(result.status): \(result.stderr)", file: file, line: line)
            return []
        }
        let objects = try result.stdout.split(separator: "\n").map { line in
            try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], String(line))
        }
        XCTAssertEqual(objects.count, steps.count, "one answer per step; stderr: \(result.stderr)", file: file, line: line)
        return objects
    }

    /// A protobuf message as the JSON object a step's "request" carries.
    static func object(json: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(json.utf8))
    }

    private struct Output {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    private static func check(_ output: Output, _ what: String) throws {
        guard output.status == 0 else {
            throw NSError(domain: "GoTTRPCClient", code: Int(output.status),
                          userInfo: [NSLocalizedDescriptionKey: "\(what) failed (\(output.status)):\n\(output.stderr)\(output.stdout)"])
        }
    }

    private static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                            deadline: TimeInterval) throws -> Output {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ttrpc-go-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("stdout"), errPath = directory.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: outPath.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
        let out = try FileHandle(forWritingTo: outPath), err = try FileHandle(forWritingTo: errPath)
        defer { try? out.close(); try? err.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        var status = Int32(-1)
        if exited.wait(timeout: .now() + deadline) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        } else {
            status = process.terminationStatus
        }
        let stderr = (try? String(contentsOf: errPath, encoding: .utf8)) ?? ""
        return Output(status: status, stdout: (try? String(contentsOf: outPath, encoding: .utf8)) ?? "",
                      stderr: status == -1 ? "ran past \(deadline) s and was killed\n" + stderr : stderr)
    }

    private static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":").map(String.init) + ["/usr/bin", "/usr/lib/go/bin"])
            .map { $0 + "/" + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// FNV-1a 64 in hex, as the Go client's drain reports it (and as the cache is keyed).
    static func fnv1a(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return String(hash, radix: 16)
    }
}
