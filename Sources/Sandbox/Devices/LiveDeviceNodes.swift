#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// The real /dev: stat(2) and glibc's major/minor split of st_rdev.
public struct LiveDeviceNodes: DeviceNodeInspector {
    public init() {}

    public func deviceNumber(_ path: String) -> DeviceNumber? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        let type: String
        switch info.st_mode & S_IFMT {
        case S_IFBLK: type = "b"
        case S_IFCHR: type = "c"
        default: return nil
        }
        let (major, minor) = Self.split(UInt64(info.st_rdev))
        return DeviceNumber(type: type, major: Int64(major), minor: Int64(minor))
    }

    public func characterDevices(in directory: String) -> [CharacterDeviceNode] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().compactMap { name in
            var info = stat()
            guard stat(directory + "/" + name, &info) == 0, info.st_mode & S_IFMT == S_IFCHR else { return nil }
            let (major, minor) = Self.split(UInt64(info.st_rdev))
            return CharacterDeviceNode(name: name, major: Int64(major), minor: Int64(minor),
                                       mode: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid)
        }
    }

    /// gnu_dev_major/gnu_dev_minor (a macro Swift does not import).
    static func split(_ device: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & 0xffff_f000)
        let minor = (device & 0xff) | ((device >> 12) & 0xffff_ff00)
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }
}
