import Foundation

/// Copies a byte range between files, skipping holes (SEEK_DATA/Self.seekHole) so a mostly empty
/// filesystem stays sparse in the image.
enum SparseCopy {
    // Linux's lseek whences; Glibc's module map hides them behind _GNU_SOURCE.
    static let seekData: Int32 = 3
    static let seekHole: Int32 = 4

    static func copy(from source: String, offset sourceOffset: UInt64 = 0, length: UInt64, to destination: String, at destinationOffset: UInt64) throws {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw OSBuilderError.errno("open", source) }
        defer { close(input) }
        let output = open(destination, O_WRONLY | O_CLOEXEC)
        guard output >= 0 else { throw OSBuilderError.errno("open", destination) }
        defer { close(output) }
        let end = sourceOffset + length
        var position = sourceOffset
        while position < end {
            let dataStart = lseek(input, off_t(position), Self.seekData)
            if dataStart < 0 {
                if errno == ENXIO { break }  // only a hole is left
                throw OSBuilderError.errno("seek data", source)
            }
            guard UInt64(dataStart) < end else { break }
            var holeStart = lseek(input, dataStart, Self.seekHole)
            if holeStart < 0 { holeStart = off_t(end) }
            let stop = min(UInt64(holeStart), end)
            try copyData(input, from: UInt64(dataStart), to: stop, output, delta: Int64(destinationOffset) - Int64(sourceOffset), source: source, destination: destination)
            position = stop
        }
    }

    private static func copyData(_ input: Int32, from start: UInt64, to stop: UInt64, _ output: Int32, delta: Int64, source: String, destination: String) throws {
        var inOffset = off_t(start)
        var outOffset = off_t(Int64(start) + delta)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while UInt64(inOffset) < stop {
            let want = Int(min(stop - UInt64(inOffset), UInt64(buffer.count)))
            let got = buffer.withUnsafeMutableBytes { pread(input, $0.baseAddress, want, inOffset) }
            guard got > 0 else { throw got == 0 ? OSBuilderError("copy", source, "unexpected end of file") : OSBuilderError.errno("read", source) }
            let wrote = buffer.withUnsafeBytes { pwrite(output, $0.baseAddress, got, outOffset) }
            guard wrote == got else { throw OSBuilderError.errno("write", destination) }
            inOffset += off_t(got)
            outOffset += off_t(got)
        }
    }
}
