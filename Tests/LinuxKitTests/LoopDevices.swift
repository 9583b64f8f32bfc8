import Foundation
import Glibc
import XCTest

/// Loop devices for root tests: a backing file, a loop device at a fresh index (so the kernel
/// really adds it and sends its "add" uevent), always detached and removed again.
final class LoopDevice {
    let image: String
    let index: Int
    var node: String { "/dev/loop\(index)" }
    var devpath: String { "/devices/virtual/block/loop\(index)" }
    private(set) var attached = false

    /// A sparse backing file of `megabytes`; the device is not attached yet.
    init(megabytes: Int, name: String = #function) throws {
        guard getuid() == 0 else { throw XCTSkip("loop devices need root") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/losetup") else { throw XCTSkip("losetup is not installed") }
        image = NSTemporaryDirectory() + "kata-loop-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).img"
        guard FileManager.default.createFile(atPath: image, contents: nil) else { throw XCTSkip("cannot create \(image)") }
        guard truncate(image, off_t(megabytes) << 20) == 0 else { throw XCTSkip("truncate \(image): errno \(errno)") }
        var candidate = 0
        repeat { candidate = Int.random(in: 300...900) } while FileManager.default.fileExists(atPath: "/sys/block/loop\(candidate)")
        index = candidate
    }

    /// Formats the backing file (before attaching).
    func format(_ tool: String = "/usr/sbin/mkfs.ext4", _ arguments: [String] = ["-q", "-F"]) throws {
        _ = try Self.run(tool, arguments + [image])
    }

    /// losetup at the fresh index: the kernel creates the device (LOOP_CTL_ADD) and announces it.
    func attach() throws {
        _ = try Self.run("/usr/sbin/losetup", [node, image])
        attached = true
    }

    /// Detaches, removes the device (LOOP_CTL_REMOVE) and the backing file; safe to repeat.
    func destroy() {
        if attached {
            _ = try? Self.run("/usr/sbin/losetup", ["-d", node])
            attached = false
        }
        let control = open("/dev/loop-control", O_RDWR | O_CLOEXEC)
        if control >= 0 {
            let loopControlRemove: UInt = 0x4C81
            // The detach completes asynchronously; EBUSY for a moment is normal.
            for _ in 0..<50 where ioctl(control, loopControlRemove, CInt(index)) != 0 && errno == EBUSY {
                usleep(20_000)
            }
            close(control)
        }
        unlink(image)
    }

    static func run(_ path: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw NSError(domain: "\(path) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): "
                          + String(decoding: errors, as: UTF8.self), code: Int(process.terminationStatus))
        }
        return String(decoding: data, as: UTF8.self)
    }
}
