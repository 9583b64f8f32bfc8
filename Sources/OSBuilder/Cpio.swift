import Foundation

/// Writes a "newc" (SVR4 without CRC) cpio archive, the format the kernel unpacks as an
/// initramfs: 110-byte ASCII header, NUL-terminated name padded to 4 bytes, data padded to 4.
public final class CpioWriter {
    public static let magic = "070701"
    public static let trailer = "TRAILER!!!"

    private let sink: (Data) throws -> Void
    private var buffer = Data()
    private var nextInode: UInt32 = 1
    /// Bytes written so far (uncompressed).
    public private(set) var bytesWritten: UInt64 = 0

    /// `sink` receives the archive in chunks.
    public init(sink: @escaping (Data) throws -> Void) {
        self.sink = sink
        buffer.reserveCapacity(1 << 20)
    }

    /// Header fields of one archive member.
    public struct Header: Sendable, Equatable {
        public var inode: UInt32 = 0
        public var mode: UInt32 = 0
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        public var nlink: UInt32 = 1
        public var mtime: UInt32 = 0
        public var fileSize: UInt32 = 0
        public var devMajor: UInt32 = 0
        public var devMinor: UInt32 = 0
        public var rdevMajor: UInt32 = 0
        public var rdevMinor: UInt32 = 0
        public init() {}
    }

    static func encode(_ header: Header, name: String) -> Data {
        let nameBytes = Array(name.utf8) + [0]
        let fields: [UInt32] = [
            header.inode, header.mode, header.uid, header.gid, header.nlink, header.mtime, header.fileSize,
            header.devMajor, header.devMinor, header.rdevMajor, header.rdevMinor, UInt32(nameBytes.count), 0,
        ]
        var text = magic
        for field in fields {
            let hex = String(field, radix: 16)
            text += String(repeating: "0", count: 8 - hex.count) + hex
        }
        var data = Data(text.utf8)
        data.append(contentsOf: nameBytes)
        data.append(contentsOf: [UInt8](repeating: 0, count: padding(data.count)))
        return data
    }

    static func padding(_ count: Int) -> Int { (4 - count % 4) % 4 }

    private func emit(_ data: Data) throws {
        buffer.append(data)
        bytesWritten += UInt64(data.count)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try sink(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Appends one member; `contents` is the file data or a symlink's target.
    public func append(name: String, header: Header, contents: Data = Data()) throws {
        var header = header
        header.fileSize = UInt32(contents.count)
        try emit(Self.encode(header, name: name))
        if !contents.isEmpty {
            try emit(contents)
            try emit(Data(count: Self.padding(contents.count)))
        }
    }

    /// Appends every entry of `tree` in its (sorted) order with deterministic inode numbers.
    public func append(tree: FileTree) throws {
        // Directory link counts follow the usual 2 + subdirectories rule.
        var subdirs: [String: UInt32] = [:]
        for entry in tree.entries where entry.kind == .directory && !entry.path.isEmpty {
            let parent = entry.path.split(separator: "/").dropLast().joined(separator: "/")
            subdirs[parent, default: 0] += 1
        }
        for entry in tree.entries {
            var header = Header()
            header.inode = nextInode
            nextInode += 1
            header.mode = entry.mode
            header.uid = entry.owner.uid
            header.gid = entry.owner.gid
            header.mtime = UInt32(clamping: max(0, entry.mtime))
            header.nlink = entry.kind == .directory ? 2 + subdirs[entry.path, default: 0] : 1
            header.rdevMajor = entry.rdevMajor
            header.rdevMinor = entry.rdevMinor
            let name = entry.path.isEmpty ? "." : entry.path
            switch entry.kind {
            case .regular:
                guard entry.size <= UInt64(UInt32.max) else {
                    throw OSBuilderError("write initrd", entry.absolutePath, "file larger than 4 GiB does not fit newc")
                }
                header.fileSize = UInt32(entry.size)
                try emit(Self.encode(header, name: name))
                try copyContents(of: entry)
                try emit(Data(count: Self.padding(Int(entry.size))))
            case .symlink:
                try append(name: name, header: header, contents: Data(entry.linkTarget.utf8))
            default:
                try append(name: name, header: header)
            }
        }
    }

    private func copyContents(of entry: TreeEntry) throws {
        guard let source = entry.sourcePath else { return }
        let fd = open(source, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OSBuilderError.errno("open", source) }
        defer { close(fd) }
        var remaining = entry.size
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while remaining > 0 {
            let want = Int(min(UInt64(chunk.count), remaining))
            let got = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, want) }
            if got < 0 {
                if errno == EINTR { continue }
                throw OSBuilderError.errno("read", source)
            }
            guard got > 0 else { throw OSBuilderError("read", source, "file shrank while packing") }
            try emit(Data(chunk[0..<got]))
            remaining -= UInt64(got)
        }
    }

    /// Writes the trailer and flushes.
    public func finish() throws {
        var header = Header()
        header.nlink = 1
        try append(name: Self.trailer, header: header)
        try flush()
    }
}

/// A member read back from a newc archive.
public struct CpioMember: Sendable, Equatable {
    public var name: String
    public var header: CpioWriter.Header
    public var contents: Data
}

/// Reads newc archives following the kernel's rules (init/initramfs.c): magic 070701 or
/// 070702, hex fields, name and data each padded to 4 bytes, stop at TRAILER!!!.
public enum CpioReader {
    public static func read(_ data: Data) throws -> [CpioMember] {
        let bytes = [UInt8](data)
        var offset = 0
        var members: [CpioMember] = []
        func fail(_ why: String) -> OSBuilderError { OSBuilderError("read cpio", "offset \(offset)", why) }
        while true {
            guard offset + 110 <= bytes.count else { throw fail("truncated header (no trailer)") }
            let magic = String(decoding: bytes[offset..<offset + 6], as: UTF8.self)
            guard magic == "070701" || magic == "070702" else { throw fail("bad magic \(magic)") }
            var fields: [UInt32] = []
            for index in 0..<13 {
                let start = offset + 6 + index * 8
                let text = String(decoding: bytes[start..<start + 8], as: UTF8.self)
                guard let value = UInt32(text, radix: 16) else { throw fail("bad hex field \(text)") }
                fields.append(value)
            }
            let nameSize = Int(fields[11])
            let nameStart = offset + 110
            guard nameSize >= 1, nameStart + nameSize <= bytes.count, bytes[nameStart + nameSize - 1] == 0 else {
                throw fail("bad name")
            }
            let name = String(decoding: bytes[nameStart..<nameStart + nameSize - 1], as: UTF8.self)
            let dataStart = nameStart + nameSize + CpioWriter.padding(110 + nameSize)
            let size = Int(fields[6])
            guard dataStart + size <= bytes.count else { throw fail("truncated data of \(name)") }
            var header = CpioWriter.Header()
            header.inode = fields[0]
            header.mode = fields[1]
            header.uid = fields[2]
            header.gid = fields[3]
            header.nlink = fields[4]
            header.mtime = fields[5]
            header.fileSize = fields[6]
            header.devMajor = fields[7]
            header.devMinor = fields[8]
            header.rdevMajor = fields[9]
            header.rdevMinor = fields[10]
            offset = dataStart + size + CpioWriter.padding(size)
            if name == CpioWriter.trailer { return members }
            members.append(CpioMember(name: name, header: header, contents: Data(bytes[dataStart..<dataStart + size])))
        }
    }
}
