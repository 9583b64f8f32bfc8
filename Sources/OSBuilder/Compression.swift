import Foundation

/// initrd compression; gzip is the default because every Kata guest kernel supports it.
public enum Compression: String, Sendable, CaseIterable {
    case gzip, zstd, none

    var tool: Tool? {
        switch self {
        case .gzip: return .gzip
        case .zstd: return .zstd
        case .none: return nil
        }
    }

    /// Arguments that make the compressor deterministic (-n: no name or timestamp in gzip).
    var arguments: [String] {
        switch self {
        case .gzip: return ["-9", "-n", "-c"]
        case .zstd: return ["-19", "-T1", "-q", "-c", "--no-progress"]
        case .none: return []
        }
    }

    /// Recognises a compressed stream by its magic bytes.
    public static func detect(_ data: Data) -> Compression {
        if data.starts(with: [0x1f, 0x8b]) { return .gzip }
        if data.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return .zstd }
        return .none
    }

    /// Streams what `body` writes through the compressor into `path`.
    public func write(to path: String, body: (_ sink: @escaping (Data) throws -> Void) throws -> Void) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let output = FileHandle(forWritingAtPath: path) else {
            throw OSBuilderError.errno("create", path)
        }
        defer { try? output.close() }
        guard let tool else {
            try body { data in
                do { try output.write(contentsOf: data) } catch { throw OSBuilderError("write", path, "\(error.localizedDescription)") }
            }
            return
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try tool.locate())
        process.arguments = arguments
        let input = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        do { try process.run() } catch { throw OSBuilderError("run", tool.name, "\(error)") }
        let errBox = DataBox()
        let errThread = Thread { errBox.data = errors.fileHandleForReading.readDataToEndOfFile() }
        errThread.start()
        let writer = input.fileHandleForWriting
        var bodyError: Error?
        do {
            try body { data in
                do { try writer.write(contentsOf: data) } catch {
                    throw OSBuilderError("compress", path, "\(tool.name) stopped reading: \(error.localizedDescription)")
                }
            }
        } catch {
            bodyError = error
        }
        try? writer.close()
        process.waitUntilExit()
        errBox.waitForEOF(errors)
        if let bodyError { throw bodyError }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let message = String(decoding: errBox.data, as: UTF8.self).split(separator: "\n").last.map(String.init)
            throw OSBuilderError("compress", path, message ?? "\(tool.name) exit status \(process.terminationStatus)")
        }
    }

    /// The decompressed contents of `path` (any of the supported formats).
    public static func readDecompressed(_ path: String) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw OSBuilderError.errno("open", path) }
        let head = (try? handle.read(upToCount: 4)) ?? Data()
        try? handle.close()
        let format = detect(head)
        guard let tool = format.tool else {
            guard let data = FileManager.default.contents(atPath: path) else { throw OSBuilderError.errno("read", path) }
            return data
        }
        return try tool.run(["-d", "-c"], stdinFile: path, operation: "decompress \(path)").stdout
    }
}
