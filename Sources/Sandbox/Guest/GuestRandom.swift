#if canImport(Glibc)
import Glibc
#endif

/// The random device's ioctls; behind a protocol so tests can use a plain file as the device.
public protocol RandomDeviceControl: Sendable {
    /// RNDADDTOENTCNT: credit `count` to the entropy count.
    func addToEntropyCount(fd: Int32, count: Int32) throws(GuestOperationError)
    /// RNDRESEEDCRNG: reseed the kernel's CRNG now.
    func reseedCRNG(fd: Int32) throws(GuestOperationError)
}

/// The real ioctls on /dev/random (x86_64/aarch64 numbers; powerpc differs and is not a target).
public struct KernelRandomDevice: RandomDeviceControl {
    static let rndAddToEntCnt: UInt = 0x4004_5201
    static let rndReseedCRNG: UInt = 0x5207

    public init() {}

    public func addToEntropyCount(fd: Int32, count: Int32) throws(GuestOperationError) {
        var value = count
        let result = withUnsafeMutableBytes(of: &value) { ioctl(fd, Self.rndAddToEntCnt, $0.baseAddress!) }
        guard result == 0 else { throw .posix("ioctl RNDADDTOENTCNT", path: nil) }
    }

    public func reseedCRNG(fd: Int32) throws(GuestOperationError) {
        guard ioctl(fd, Self.rndReseedCRNG) == 0 else { throw .posix("ioctl RNDRESEEDCRNG", path: nil) }
    }
}

/// ReseedRandomDev as upstream does it: mix the host's bytes into the pool by writing them to
/// the random device, credit them (upstream credits the byte count, a conservative number of
/// bits), then force a CRNG reseed.
public enum GuestRandom {
    /// The host sends 64 bytes or so; refuse absurd payloads instead of writing megabytes.
    public static let maximumSeedBytes = 1 << 20

    public static func reseed(
        data: [UInt8], roots: GuestRoots, device: some RandomDeviceControl
    ) throws(GuestOperationError) {
        guard !data.isEmpty else {
            throw GuestOperationError(
                .invalidArgument(field: "data"), operation: "reseed random device", reason: "missing entropy data")
        }
        guard data.count <= maximumSeedBytes else {
            throw GuestOperationError(
                .invalidArgument(field: "data"), operation: "reseed random device",
                reason: "\(data.count) bytes exceed the limit of \(maximumSeedBytes)")
        }
        let path = roots.randomDevice
        try GuestFileIO.write(path, data, operation: "write entropy")
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw .posix("open random device", path: path) }
        defer { close(fd) }
        try device.addToEntropyCount(fd: fd, count: Int32(data.count))
        try device.reseedCRNG(fd: fd)
    }
}
