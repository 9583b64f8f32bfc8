#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// OnlineCPUMem: bring offline CPUs and memory blocks online through sysfs, as upstream does.
public struct GuestOnlineResources: Sendable {
    public let roots: GuestRoots
    /// How long to keep trying until `nb_cpus` CPUs are online (upstream: 100 x 50 ms).
    public let cpuDeadline: Duration
    public let retryInterval: Duration

    public init(roots: GuestRoots, cpuDeadline: Duration = .seconds(5), retryInterval: Duration = .milliseconds(50)) {
        self.roots = roots
        self.cpuDeadline = cpuDeadline
        self.retryInterval = retryInterval
    }

    /// What one call did, for the log.
    public struct Outcome: Sendable, Equatable {
        public var onlineCPUs: Int?
        public var memoryBlocksOnlined: Int?
    }

    /// `nbCPUs` 0 skips CPUs; `cpuOnly` skips memory. Returns once at least `nbCPUs` CPUs are
    /// online or the deadline passes (an error naming how many are online).
    public func online(nbCPUs: UInt32, cpuOnly: Bool) async throws(GuestOperationError) -> Outcome {
        var outcome = Outcome()
        if nbCPUs > 0 {
            outcome.onlineCPUs = try await onlineCPUs(wanted: Int(nbCPUs))
        }
        if !cpuOnly {
            outcome.memoryBlocksOnlined = try onlineAll(
                directory: roots.memoryDirectory, prefix: "memory", limit: nil, operation: "online memory")
        }
        return outcome
    }

    /// Number of CPUs in the kernel's `online` list ("0-3,6").
    public func onlineCPUCount() throws(GuestOperationError) -> Int {
        let path = roots.cpuOnlineFile
        let text = try GuestFileIO.read(path, operation: "read online cpus")
        guard let count = Self.countCPUList(text.trimmingWhitespace()) else {
            throw GuestOperationError(
                .system, operation: "read online cpus", path: path, reason: "cannot parse cpu list '\(text.prefix(80))'")
        }
        return count
    }

    private func onlineCPUs(wanted: Int) async throws(GuestOperationError) -> Int {
        var online = try onlineCPUCount()
        if online >= wanted { return online }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: cpuDeadline)
        while true {
            _ = try onlineAll(directory: roots.cpuDirectory, prefix: "cpu", limit: wanted - online, operation: "online cpus")
            online = try onlineCPUCount()
            if online >= wanted { return online }
            // Hot-plugged CPUs appear in sysfs asynchronously; the kernel offers no event to wait on.
            if clock.now >= deadline { break }
            try? await Task.sleep(for: retryInterval)
        }
        throw GuestOperationError(
            .system, operation: "online cpus", path: roots.cpuDirectory,
            reason: "only \(online) of \(wanted) requested CPUs are online after \(cpuDeadline)")
    }

    /// Writes "1" to `<entry>/online` of every `<prefix>N` entry whose `online` reads 0, up to `limit`.
    /// As upstream, an entry that refuses is skipped (the kernel may refuse e.g. a removable block).
    func onlineAll(directory: String, prefix: String, limit: Int?, operation: String) throws(GuestOperationError) -> Int {
        var count = 0
        for name in try GuestFileIO.list(directory, operation: operation) {
            guard name.hasPrefix(prefix), name.count > prefix.count,
                name.dropFirst(prefix.count).allSatisfy({ $0.isASCII && $0.isNumber })
            else { continue }
            let file = directory + "/" + name + "/online"
            guard let state = try? GuestFileIO.read(file, operation: operation),
                state.trimmingWhitespace() == "0"
            else { continue }
            if (try? GuestFileIO.write(file, "1", operation: operation)) != nil {
                count += 1
                if let limit, count >= limit { break }
            }
        }
        return count
    }

    /// Counts the CPUs of a kernel cpu list: "0", "0-3", "0-3,6,8-9"; nil when malformed.
    static func countCPUList(_ text: String) -> Int? {
        if text.isEmpty { return 0 }
        var total = 0
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            switch bounds.count {
            case 1:
                guard UInt32(bounds[0]) != nil else { return nil }
                total += 1
            case 2:
                guard let low = UInt32(bounds[0]), let high = UInt32(bounds[1]), low <= high else { return nil }
                total += Int(high - low) + 1
            default:
                return nil
            }
        }
        return total
    }
}
