import Foundation
import XCTest

/// The agent links FoundationEssentials only: full Foundation brings ICU and ~40 MB of its data.
/// It links no TLS either: its gRPC codec is cleartext HTTP/2 on swift-nio-http2 (issue 10).
final class AgentFootprintTests: XCTestCase {
    private func agentBinary() throws -> String {
        try builtAgentBinary()
    }

    /// Whether `needle` occurs in the file, read in chunks that overlap by the needle's length.
    private func file(_ path: String, contains needle: [UInt8]) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        defer { try? handle.close() }
        var carry: [UInt8] = []
        while let chunk = try handle.read(upToCount: 8 << 20), !chunk.isEmpty {
            let window = carry + chunk
            if Self.search(window, for: needle) { return true }
            carry = Array(window.suffix(needle.count - 1))
        }
        return false
    }

    /// memchr for the first byte, then a compare: fast enough on a 170 MB debug binary.
    private static func search(_ haystack: [UInt8], for needle: [UInt8]) -> Bool {
        guard let first = needle.first, haystack.count >= needle.count else { return false }
        return haystack.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            var offset = 0
            while offset <= buffer.count - needle.count {
                guard let hit = memchr(base + offset, Int32(first), buffer.count - offset) else { return false }
                let index = UnsafePointer<UInt8>(hit.assumingMemoryBound(to: UInt8.self)) - base
                if index + needle.count <= buffer.count && memcmp(base + index, needle, needle.count) == 0 { return true }
                offset = index + 1
            }
            return false
        }
    }

    func testAgentDoesNotLinkICU() throws {
        let agent = try agentBinary()
        // ICU's data symbol (icudt<N>_dat) and its data's table of contents (icudt<N>l/...) both
        // carry this prefix: a stripped binary still has the data's.
        XCTAssertFalse(try file(agent, contains: Array("icudt".utf8)),
                       "\(agent) contains ICU data: something in the agent imports full Foundation again "
                           + "(use FoundationEssentials; see Package.swift's staticExecutable)")
    }

    /// swift-argument-parser is for kata-agent-ctl and osbuilder; the agent parses its few
    /// arguments itself, and a declared dependency links the whole module (0.8 MB stripped):
    /// SwiftPM hands the linker object files, whose Swift metadata keeps them alive.
    func testAgentDoesNotLinkArgumentParser() throws {
        let agent = try agentBinary()
        XCTAssertFalse(try file(agent, contains: Array("$s14ArgumentParser".utf8)),
                       "\(agent) links swift-argument-parser: kata-agent's target depends on it again")
    }

    /// Symbol-name fragments of the TLS and certificate stack that grpc-swift-nio-transport's
    /// server brings (BoringSSL via NIOSSL and via swift-crypto, swift-certificates, swift-asn1):
    /// C symbols keep their BoringSSL prefix, Swift symbols their mangled module name.
    static let tlsSymbolFragments: [(library: String, fragment: String)] = [
        ("NIOSSL's BoringSSL", "CNIOBoringSSL_"),
        ("swift-crypto's BoringSSL", "CCryptoBoringSSL_"),
        ("NIOSSL", "$s6NIOSSL"),
        ("swift-crypto", "$s6Crypto"),
        ("swift-crypto's _CryptoExtras", "$s13_CryptoExtras"),
        ("swift-certificates", "$s4X509"),
        ("swift-asn1", "$s9SwiftASN1"),
    ]

    /// The agent's own modules, as SwiftPM names their object directories.
    static let agentModules = [
        "AgentConfig", "LinuxKit", "OCISpec", "Cgroups", "ContainerEngine", "Sandbox", "AgentServer", "AgentWire", "TTRPCWire",
        "KataProtocols", "kata_agent",
    ]

    /// Package.swift compiles our modules with -disable-concrete-type-metadata-mangled-name-accessors:
    /// code that reaches a concrete generic type by demangling its name calls this helper, and
    /// the runtime then checks the type's requirements with conformance lookups that scan every
    /// conformance record of the binary (most of an agent start's instructions before the flag).
    func testAgentModulesDoNotDemangleTypeNamesAtRunTime() throws {
        let buildDirectory = (try agentBinary() as NSString).deletingLastPathComponent
        let helper = Array("__swift_instantiateConcreteTypeFromMangledName".utf8)
        var checked = 0
        var offenders: [String] = []
        for module in Self.agentModules {
            let directory = buildDirectory + "/" + module + ".build"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names.sorted() where name.hasSuffix(".o") {
                checked += 1
                if try file(directory + "/" + name, contains: helper) { offenders.append(module + "/" + name) }
            }
        }
        guard checked > 0 else { throw XCTSkip("no object files of the agent's modules next to \(buildDirectory)") }
        XCTAssertEqual(offenders, [], "these objects reach generic metadata by demangling names at run time: "
            + "a module lost Package.swift's directMetadataAccess setting")
    }

    func testAgentDoesNotLinkTLSOrCertificateCode() throws {
        let agent = try agentBinary()
        var found: [String] = []
        for (library, fragment) in Self.tlsSymbolFragments {
            if try file(agent, contains: Array(fragment.utf8)) { found.append("\(library) (\(fragment))") }
        }
        XCTAssertEqual(found, [], "\(agent) links TLS/certificate code: \(found.joined(separator: ", ")); "
            + "something linked into kata-agent depends on GRPCNIOTransportHTTP2Posix, NIOSSL or swift-crypto again "
            + "(the agent serves gRPC through AgentWire's GRPCHTTP2Codec)")
    }
}
