// swift-tools-version:6.0
import PackageDescription

// A fully static ELF for the guest. Only the link step of the executables gets these flags,
// so tests and executables share one compilation. `-static-executable` alone misses
// Foundation's transitive static archives (objects were compiled for dynamic linking and
// do not autolink them), hence the explicit group. The executables use FoundationEssentials
// only: full Foundation would pull in ICU and its data (~40 MB of the binary);
// AgentConfigTests' AgentFootprintTests fails if the agent carries ICU again. gold's safe
// identical code folding merges functions whose address is never taken (generic
// specializations, protocol witnesses and thunks often compile to the same bytes): 2% smaller.
let staticExecutable: [LinkerSetting] = {
    let archives = [
        "FoundationEssentials", "_FoundationCollections", "_FoundationCShims", "swiftSynchronization",
        "seccomp", "cap",
    ]
    var flags = ["-static-executable", "-Xlinker", "--start-group"]
    for archive in archives { flags += ["-Xlinker", "-l\(archive)"] }
    flags += ["-Xlinker", "--end-group", "-Xlinker", "-lstdc++", "-Xlinker", "--icf=safe"]
    return [.unsafeFlags(flags)]
}()

// Release builds (Makefile) link kata-agent against a copy of libc.a whose objects name their code
// sections after themselves (bench/libc_sections.py), ahead of the toolchain's -lc, so that the
// link order can place the C library's functions an agent start runs next to the rest.
let sectionedLibc: [LinkerSetting] = Context.environment["KATA_SECTIONED_LIBC"].map {
    [.unsafeFlags(["-Xlinker", $0])]
} ?? []

// Concrete generic types (ProtobufDeserializer<Grpc_CheckRequest>, Dictionary<UInt32, ...>)
// through their metadata accessors rather than by demangling a name at run time: the demangling
// path checks each generic requirement with a conformance lookup, and a lookup the runtime has
// not cached scans every conformance record of the static binary (about 7,800). Every Swift
// target of ours gets it (below); release builds pass it to the dependencies as well (Makefile).
let directMetadataAccess: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"]),
]

let grpcCore = Target.Dependency.product(name: "GRPCCore", package: "grpc-swift-2")
let grpcProtobuf = Target.Dependency.product(name: "GRPCProtobuf", package: "grpc-swift-protobuf")
let protobuf = Target.Dependency.product(name: "SwiftProtobuf", package: "swift-protobuf")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let systemPackage = Target.Dependency.product(name: "SystemPackage", package: "swift-system")
let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let nioHTTP2 = Target.Dependency.product(name: "NIOHTTP2", package: "swift-nio-http2")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")

let package = Package(
    name: "kata-swift",
    products: [
        .executable(name: "kata-agent", targets: ["kata-agent"]),
        .executable(name: "kata-agent-ctl", targets: ["kata-agent-ctl"]),
        .executable(name: "osbuilder", targets: ["osbuilder"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system.git", exact: "1.8.1"),
    ],
    targets: [
        // System libraries and C shims.
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        .target(name: "CLinuxShim"),

        // Libraries.
        .target(name: "KataProtocols", dependencies: [protobuf, grpcCore, grpcProtobuf]),
        .target(name: "AgentConfig", dependencies: ["LinuxKit", logging]),
        .target(name: "LinuxKit", dependencies: ["CLinuxShim", systemPackage, logging]),
        .target(name: "OCISpec"),
        .target(name: "Cgroups", dependencies: ["LinuxKit", "OCISpec", "CLinuxShim", logging]),
        .target(name: "ContainerEngine", dependencies: ["OCISpec", "LinuxKit", "Cgroups", "CSeccomp", "CCap", nioCore, logging]),
        .target(name: "Sandbox", dependencies: ["LinuxKit", "ContainerEngine", "AgentConfig", logging]),
        .target(
            name: "AgentServer",
            dependencies: [
                "KataProtocols", "AgentConfig", "LinuxKit", "OCISpec", "Cgroups", "ContainerEngine", "Sandbox", "AgentWire",
                grpcCore, grpcProtobuf, nioCore, nioPosix, logging,
            ]),
        // The wire codecs beneath the handlers: ttrpc and gRPC over HTTP/2 (no TLS), sniffed per connection.
        .target(name: "AgentWire", dependencies: ["TTRPCWire", "LinuxKit", grpcCore, protobuf, nioCore, nioPosix, nioHTTP2, logging]),
        // ttrpc's framing and envelope messages alone (NIOCore only): the part that parses a
        // client's bytes, which the fuzz build instruments without the gRPC and HTTP/2 stack.
        .target(name: "TTRPCWire", dependencies: [nioCore]),
        // gRPC's client side of that codec (kata-agent-ctl, tests); never linked into the agent.
        .target(name: "AgentWireClient", dependencies: ["AgentWire", grpcCore, nioCore, nioPosix, nioHTTP2, logging]),
        .target(name: "OSBuilder", dependencies: [logging]),

        // Executables.
        .executableTarget(
            name: "kata-agent",
            dependencies: ["AgentServer", "AgentConfig", "ContainerEngine", "LinuxKit", "Sandbox", logging],
            // Release builds' linker input (Makefile SWIFT_FLAGS_release, bench/link_order.py).
            exclude: ["link-order.txt"],
            linkerSettings: staticExecutable + sectionedLibc),
        .executableTarget(
            name: "kata-agent-ctl",
            dependencies: [
                "KataProtocols", "AgentConfig", "AgentWire", "AgentWireClient", "TTRPCWire", "LinuxKit", grpcCore, grpcProtobuf, protobuf,
                argumentParser, nioCore, nioPosix,
            ],
            linkerSettings: staticExecutable),
        .executableTarget(name: "osbuilder", dependencies: ["OSBuilder", argumentParser]),
        // Test helper: applies seccomp/capabilities to itself (ContainerEngineTests spawn it).
        .executableTarget(name: "security-probe", dependencies: ["ContainerEngine", "OCISpec", "CLinuxShim"], path: "Tests/SecurityProbe"),

        // Tests mirror the modules.
        .testTarget(name: "KataProtocolsTests", dependencies: ["KataProtocols", grpcCore, protobuf]),
        .testTarget(name: "AgentConfigTests", dependencies: ["AgentConfig"]),
        .testTarget(name: "LinuxKitTests", dependencies: ["LinuxKit"]),
        .testTarget(name: "OCISpecTests", dependencies: ["OCISpec"]),
        .testTarget(name: "CgroupsTests", dependencies: ["Cgroups", "LinuxKit", "OCISpec"]),
        .testTarget(name: "ContainerEngineTests", dependencies: ["ContainerEngine", "OCISpec", "LinuxKit", "Cgroups", "security-probe"]),
        .testTarget(name: "SandboxTests", dependencies: ["Sandbox", "LinuxKit"]),
        .testTarget(
            name: "AgentServerTests",
            dependencies: ["AgentServer", "AgentWire", "AgentWireClient", "TTRPCWire", "KataProtocols", "Sandbox", "OCISpec", grpcCore, grpcProtobuf, protobuf]),
        .testTarget(name: "OSBuilderTests", dependencies: ["OSBuilder"]),
        .testTarget(name: "AgentWireTests", dependencies: ["AgentWire", "AgentWireClient", "TTRPCWire", grpcCore, nioCore, nioPosix, nioHTTP2, logging]),
    ]
)

for target in package.targets where target.type != .system && target.name != "CLinuxShim" {
    target.swiftSettings = (target.swiftSettings ?? []) + directMetadataAccess
}

// libFuzzer targets (Tests/Fuzz, `make fuzz`): declared only when KATA_FUZZ is set, so the normal
// build never compiles them (they link only with -sanitize=fuzzer). Each main.swift hands its
// input function to libFuzzer's driver; debug builds are testable, hence `@testable import`
// for internal parsers.
if Context.environment["KATA_FUZZ"] != nil {
    package.targets.append(.target(name: "FuzzDriver", path: "Tests/Fuzz/FuzzDriver"))
    let fuzzTargets: [(String, [Target.Dependency])] = [
        ("FuzzKernelCmdline", ["AgentConfig"]),
        ("FuzzConfigTOML", ["AgentConfig"]),
        ("FuzzSerialSplitter", ["LinuxKit"]),
        ("FuzzTTRPC", ["TTRPCWire", nioCore, nioEmbedded]),
        ("FuzzMountOptions", ["LinuxKit", "ContainerEngine", "Sandbox"]),
        ("FuzzSeccomp", ["ContainerEngine", "OCISpec"]),
        ("FuzzCpio", ["OSBuilder"]),
        ("FuzzTemplate", ["OSBuilder"]),
    ]
    for (name, dependencies) in fuzzTargets {
        package.targets.append(.executableTarget(name: name, dependencies: ["FuzzDriver"] + dependencies, path: "Tests/Fuzz/\(name)"))
        package.products.append(.executable(name: name, targets: [name]))
    }
}
