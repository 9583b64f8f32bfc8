/// A SCSI address as the runtimes send it: "<target id>:<lun>" (decimal), on channel 0 of the
/// virtio-scsi host.
public struct SCSIAddress: Sendable, Equatable, CustomStringConvertible {
    public var id: UInt32
    public var lun: UInt32

    /// Parses "<id>:<lun>"; nil when it is not two decimal numbers.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 10 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }),
              let id = UInt32(parts[0]), let lun = UInt32(parts[1]) else { return nil }
        self.id = id
        self.lun = lun
    }

    public var description: String { "\(id):\(lun)" }

    /// What a SCSI host's `scan` attribute takes: "<channel> <id> <lun>".
    var scanRequest: String { "0 \(id) \(lun)" }

    /// Whether a sysfs component "<host>:<channel>:<id>:<lun>" is channel 0, this id and lun.
    static func component(_ component: some StringProtocol, isTarget id: UInt32, lun: UInt32) -> Bool {
        let parts = component.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 4, UInt32(parts[0]) != nil else { return false }
        return parts[1] == "0" && UInt32(parts[2]) == id && UInt32(parts[3]) == lun
    }
}
