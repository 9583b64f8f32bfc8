/// One agent.proto Storage as plain values: what to mount where, by which driver. The server
/// converts the protobuf message at its edge; drivers never see protobuf.
public struct StorageRequest: Sendable, Equatable {
    public var driver: String
    public var driverOptions: [String]
    public var source: String
    public var fsType: String
    public var options: [String]
    public var mountPoint: String
    /// Group ownership to apply to the mounted volume (agent.proto FSGroup); nil when unset.
    public var fsGroup: FSGroup?

    public init(driver: String, driverOptions: [String] = [], source: String = "", fsType: String = "",
                options: [String] = [], mountPoint: String, fsGroup: FSGroup? = nil) {
        self.driver = driver
        self.driverOptions = driverOptions
        self.source = source
        self.fsType = fsType
        self.options = options
        self.mountPoint = mountPoint
        self.fsGroup = fsGroup
    }
}

/// agent.proto FSGroup: the gid a volume's files get, and when to (re)apply it.
public struct FSGroup: Sendable, Equatable {
    /// agent.proto FSGroupChangePolicy.
    public enum ChangePolicy: Sendable, Equatable {
        /// Always walk the volume and fix ownership and permissions.
        case always
        /// Only when the volume's root does not already have the group and permissions.
        case onRootMismatch
    }

    public var groupID: UInt32
    public var changePolicy: ChangePolicy

    public init(groupID: UInt32, changePolicy: ChangePolicy = .always) {
        self.groupID = groupID
        self.changePolicy = changePolicy
    }
}
