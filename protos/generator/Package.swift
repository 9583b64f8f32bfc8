// swift-tools-version:6.0
// Builds the protoc plugins (protoc-gen-swift, protoc-gen-grpc-swift-2) from the
// packages this machine has, so `make proto` needs nothing but Debian's protoc.
// Kept apart from the root package so CI, which never regenerates, never builds them.
import PackageDescription

let package = Package(
    name: "ProtocPlugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: []
)
