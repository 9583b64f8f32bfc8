import LinuxKit
import Logging
import OCISpec

/// CreateContainer.devices: finds each device in the guest (waiting for hot-plugged ones),
/// then rewrites the container's spec from host to guest terms: the `linux.devices` entry at
/// the container path gets the guest's major/minor (and path for VFIO groups), device cgroup
/// rules naming the host numbers are rewritten and an allow rule is added, PCIDEVICE_*
/// variables get guest PCI addresses.
public struct ContainerDevices: Sendable {
    /// The device types served, as agent.proto names them.
    public static let types = ["blk", "mmioblk", "scsi", "nvdimm", "vfio-pci", "vfio-pci-gk"]

    public let locator: DeviceLocator
    public let nodes: any DeviceNodeInspector
    let logger: Logger

    public init(locator: DeviceLocator, nodes: any DeviceNodeInspector = LiveDeviceNodes(), logger: Logger) {
        self.locator = locator
        self.nodes = nodes
        self.logger = logger
    }

    /// What one device changes in the spec.
    struct Update: Sendable {
        /// The guest node whose numbers replace the host's; nil for vfio-pci-gk.
        var node: String?
        var number: DeviceNumber?
        /// A new container path (VFIO group nodes are numbered differently in the guest).
        var finalPath: String?
        /// Host PCI address -> guest PCI address.
        var pci: [(host: PCIAddress, guest: PCIAddress)] = []
    }

    /// Checks every device's fields before anything waits: empty type, id (and vm_path) or
    /// container_path, or an unknown type, is INVALID_ARGUMENT naming the field.
    public static func validate(_ devices: [DeviceRequest]) throws(SandboxError) {
        for (index, device) in devices.enumerated() {
            let field = "devices[\(index)]"
            guard !device.type.isEmpty else { throw SandboxError(.invalidArgument, "\(field).type must not be empty") }
            guard !device.id.isEmpty || !device.vmPath.isEmpty else {
                throw SandboxError(.invalidArgument, "\(field).id must not be empty (nor vm_path) for a \(device.type) device")
            }
            guard !device.containerPath.isEmpty else {
                throw SandboxError(.invalidArgument, "\(field).container_path must not be empty")
            }
            guard types.contains(device.type) else {
                throw SandboxError(.invalidArgument,
                                   "\(field).type \"\(device.type)\" is not a device type this agent handles (\(types.joined(separator: ", ")))")
            }
        }
    }

    /// Finds every device and rewrites `spec`; on error the spec is left as it was.
    public func apply(_ devices: [DeviceRequest], to spec: inout Spec, containerID: String) async throws(SandboxError) {
        guard !devices.isEmpty else { return }
        try Self.validate(devices)
        var updates: [(containerPath: String, update: Update)] = []
        for device in devices {
            let update = try await find(device)
            if update.number != nil, updates.contains(where: { $0.containerPath == device.containerPath && $0.update.number != nil }) {
                throw SandboxError(.invalidArgument, "two devices for container path \(device.containerPath)")
            }
            logger.info("device found", metadata: [
                "container": "\(containerID)", "type": "\(device.type)", "id": "\(device.id)",
                "container-path": "\(device.containerPath)", "guest-node": "\(update.node ?? "-")",
            ])
            updates.append((device.containerPath, update))
        }
        var rewritten = spec
        try DeviceSpecRewrite.apply(updates, to: &rewritten)
        if devices.contains(where: { $0.type.hasPrefix("vfio") }) {
            exposeInfiniband(to: &rewritten, containerID: containerID)
        }
        spec = rewritten
    }

    /// As upstream's agent: a container given a VFIO device also gets the guest's RDMA nodes
    /// (/dev/infiniband/uverbs*, rdma_cm), which the guest's drivers create for a passed-through
    /// NIC's functions. As linux.devices entries they get the container's cgroup rules too
    /// (DeviceRule.containerRules); containers without a VFIO device never see them.
    func exposeInfiniband(to spec: inout Spec, containerID: String) {
        let found = nodes.characterDevices(in: locator.paths.dev + "/infiniband")
        guard !found.isEmpty else { return }
        var linux = spec.linux ?? Linux()
        var devices = linux.devices ?? []
        for node in found {
            let path = "/dev/infiniband/" + node.name
            guard !devices.contains(where: { $0.path == path }) else { continue }
            devices.append(LinuxDevice(path: path, type: "c", major: node.major, minor: node.minor,
                                       fileMode: node.mode, uid: node.uid, gid: node.gid))
        }
        linux.devices = devices
        spec.linux = linux
        logger.info("guest InfiniBand devices given to the container", metadata: [
            "container": "\(containerID)", "devices": "\(found.map(\.name).joined(separator: ","))",
        ])
    }

    func find(_ device: DeviceRequest) async throws(SandboxError) -> Update {
        switch device.type {
        case "blk":
            // The runtime sends the PCI path as id (vm_path is the host's guess at a name).
            let pciPath = device.id.isEmpty ? device.vmPath : device.id
            return try nodeUpdate(try await locator.virtioBlock(pciPath: pciPath), device: device)
        case "mmioblk":
            guard !device.vmPath.isEmpty else {
                throw SandboxError(.invalidArgument, "mmioblk device \(device.containerPath): vm_path must name the /dev node")
            }
            return try nodeUpdate(try await locator.mmioBlock(node: device.vmPath), device: device)
        case "scsi":
            return try nodeUpdate(try await locator.scsiDisk(address: device.id), device: device)
        case "nvdimm":
            guard !device.vmPath.isEmpty else {
                throw SandboxError(.invalidArgument, "nvdimm device \(device.containerPath): vm_path must name /dev/pmem<N>")
            }
            return try nodeUpdate(try await locator.pmem(node: device.vmPath), device: device)
        case "vfio-pci", "vfio-pci-gk":
            return try await VFIODevices(locator: locator, logger: logger).find(device, bindToVFIO: device.type == "vfio-pci", nodes: nodes)
        default:
            throw SandboxError(.invalidArgument, "device type \"\(device.type)\" is not handled")
        }
    }

    func nodeUpdate(_ node: String, device: DeviceRequest) throws(SandboxError) -> Update {
        guard let number = nodes.deviceNumber(node) else {
            throw SandboxError(.system, "\(device.type) device \(device.id.isEmpty ? device.vmPath : device.id): \(node) is not a device node")
        }
        return Update(node: node, number: number)
    }
}
