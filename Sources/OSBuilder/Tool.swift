import Foundation

/// Runs the external programs osbuilder relies on (mkfs.ext4, debugfs, gzip, mmdebstrap),
/// turning a missing program or a failure into one clear `OSBuilderError`.
public struct Tool: Sendable {
    /// Program name looked up in PATH.
    public var name: String
    /// The Debian package that provides it, named in the "missing tool" message.
    public var package: String

    public init(_ name: String, package: String) {
        self.name = name
        self.package = package
    }

    public static let mkfsExt4 = Tool("mkfs.ext4", package: "e2fsprogs")
    public static let debugfs = Tool("debugfs", package: "e2fsprogs")
    public static let e2fsck = Tool("e2fsck", package: "e2fsprogs")
    public static let gzip = Tool("gzip", package: "gzip")
    public static let zstd = Tool("zstd", package: "zstd")
    public static let mmdebstrap = Tool("mmdebstrap", package: "mmdebstrap")
    public static let depmod = Tool("depmod", package: "kmod")
    public static let dpkgQuery = Tool("dpkg-query", package: "dpkg")
    public static let mkfsXFS = Tool("mkfs.xfs", package: "xfsprogs")
    public static let xfsDB = Tool("xfs_db", package: "xfsprogs")
    public static let xfsRepair = Tool("xfs_repair", package: "xfsprogs")
    public static let mkfsEROFS = Tool("mkfs.erofs", package: "erofs-utils")
    public static let fsckEROFS = Tool("fsck.erofs", package: "erofs-utils")
    public static let veritysetup = Tool("veritysetup", package: "cryptsetup-bin")

    /// The program's absolute path, or an error naming the package to install.
    public func locate() throws -> String {
        if name.contains("/") {
            if access(name, X_OK) == 0 { return name }
        } else {
            let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
            // sbin directories are searched too: non-root PATHs often lack them.
            for dir in path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin"] {
                let candidate = "\(dir)/\(name)"
                if access(candidate, X_OK) == 0 { return candidate }
            }
        }
        throw OSBuilderError("missing tool", name, "not found in PATH (apt-get install \(package))")
    }

    /// Whether the program is installed.
    public var isAvailable: Bool { (try? locate()) != nil }

    /// Result of one run.
    public struct Output: Sendable {
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    /// Runs the program to completion. stdin is /dev/null unless `stdinFile` is given;
    /// `stdoutFile` redirects stdout (e.g. into the compressed output).
    @discardableResult
    public func run(
        _ arguments: [String], environment: [String: String] = [:], stdinFile: String? = nil,
        stdoutFile: String? = nil, check: Bool = true, operation: String? = nil
    ) throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try locate())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        if let stdinFile {
            guard let handle = FileHandle(forReadingAtPath: stdinFile) else {
                throw OSBuilderError.errno("open", stdinFile)
            }
            process.standardInput = handle
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        let outPipe = Pipe()
        var outHandle: FileHandle?
        if let stdoutFile {
            guard FileManager.default.createFile(atPath: stdoutFile, contents: nil),
                let handle = FileHandle(forWritingAtPath: stdoutFile)
            else { throw OSBuilderError.errno("create", stdoutFile) }
            outHandle = handle
            process.standardOutput = handle
        } else {
            process.standardOutput = outPipe
        }
        let errPipe = Pipe()
        process.standardError = errPipe
        do {
            try process.run()
        } catch {
            throw OSBuilderError("run", name, "\(error)")
        }
        // Drain both pipes concurrently so a chatty tool cannot block on a full pipe.
        let errBox = DataBox()
        let errThread = Thread { errBox.data = errPipe.fileHandleForReading.readDataToEndOfFile() }
        errThread.start()
        let stdout = stdoutFile == nil ? outPipe.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        errBox.waitForEOF(errPipe)
        try? outHandle?.close()
        let stderr = String(decoding: errBox.data, as: UTF8.self)
        let output = Output(status: process.terminationStatus, stdout: stdout, stderr: stderr)
        if check && (process.terminationReason != .exit || process.terminationStatus != 0) {
            let last = stderr.split(separator: "\n").last(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
            let detail = last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw OSBuilderError(operation ?? "run \(name)", arguments.last ?? "", detail)
        }
        return output
    }
}

/// Collects a pipe's bytes on a helper thread.
final class DataBox: @unchecked Sendable {
    private let lock = NSCondition()
    private var done = false
    private var storage = Data()

    var data: Data {
        get { lock.lock(); defer { lock.unlock() }; return storage }
        set { lock.lock(); storage = newValue; done = true; lock.broadcast(); lock.unlock() }
    }

    /// Waits until the reader thread has stored the pipe's contents.
    func waitForEOF(_ pipe: Pipe) {
        lock.lock()
        while !done { lock.wait() }
        lock.unlock()
    }
}
