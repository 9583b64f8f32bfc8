import Glibc
import LinuxKit

/// Finds hot-plugged devices by what the runtime knows of them (a PCI path, a SCSI address,
/// a /dev name): a device already present in sysfs or /dev is found at once (it may have
/// appeared before the listener started), otherwise the hub waits for its uevent, bounded by
/// agent.hotplug_timeout.
public struct DeviceLocator: Sendable {
    public let hub: UeventHub
    public var paths: DevicePaths { hub.paths }

    public init(hub: UeventHub) {
        self.hub = hub
    }

    /// The virtio-blk disk at a PCI path ("02", "02/01"): its node, e.g. "/dev/vda".
    public func virtioBlock(pciPath text: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        let devpath = try resolve(pciPath: text, what: "virtio-blk disk")
        let sysfs = paths.sysfs
        let paths = self.paths
        let what = "virtio-blk disk at PCI path \(text) (\(devpath)/virtio*/block/*)"
        return try await hub.wait(for: .virtioBlock(under: devpath, what: what), timeout: timeout, fastPath: {
            for entry in (Sysfs.list(sysfs + devpath) ?? []).sorted() where Self.isVirtioEntry(entry) {
                if let name = Sysfs.list(sysfs + devpath + "/" + entry + "/block")?.sorted().first(where: { DeviceName.isPlain($0) }),
                   Self.blockNodeIsLive(paths.node(name)) {
                    return paths.node(name)
                }
            }
            return nil
        }, extract: { paths.node(Self.lastComponent($0.devpath)) })
    }

    /// A virtio-mmio disk named by the runtime ("/dev/vdb"): the node once it exists.
    public func mmioBlock(node: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        let name = try deviceName(node, what: "virtio-mmio disk")
        let paths = self.paths
        let path = paths.node(name)
        return try await hub.wait(for: .blockNamed(name, what: "virtio-mmio disk \(node) (…/block/\(name))"), timeout: timeout,
                                  fastPath: { Sysfs.exists(path) && Self.blockNodeIsLive(path) ? path : nil }, extract: { _ in path })
    }

    /// The SCSI disk at "<id>:<lun>": asks every SCSI host to scan that target first (the
    /// runtime hot-plugged it; the kernel does not look by itself), then waits.
    public func scsiDisk(address text: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        guard let address = SCSIAddress(text) else {
            throw SandboxError(.invalidArgument, "SCSI address \"\(text)\" is not <id>:<lun> (decimal)")
        }
        let sysfs = paths.sysfs
        let paths = self.paths
        let present: @Sendable () -> String? = {
            for device in (Sysfs.list(sysfs + "/bus/scsi/devices") ?? []).sorted()
            where SCSIAddress.component(device, isTarget: address.id, lun: address.lun) {
                if let name = Sysfs.list(sysfs + "/bus/scsi/devices/" + device + "/block")?.sorted().first(where: { DeviceName.isPlain($0) }),
                   Self.blockNodeIsLive(paths.node(name)) {
                    return paths.node(name)
                }
            }
            return nil
        }
        if let node = present() { return node }
        try scanSCSIHosts(address)
        let what = "SCSI disk \(address) (…/<host>:0:\(address.id):\(address.lun)/block/sd*)"
        return try await hub.wait(for: .scsiDisk(id: address.id, lun: address.lun, what: what), timeout: timeout,
                                  fastPath: present, extract: { paths.node(Self.lastComponent($0.devpath)) })
    }

    /// An NVDIMM (pmem) namespace named by the runtime ("/dev/pmem0").
    public func pmem(node: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        let name = try deviceName(node, what: "NVDIMM device")
        let paths = self.paths
        let path = paths.node(name)
        let sysfs = paths.sysfs
        return try await hub.wait(for: .pmem(name, what: "NVDIMM device \(node) (/devices/LNXSYSTM…/block/\(name))"), timeout: timeout,
                                  fastPath: { Sysfs.exists(sysfs + "/class/block/" + name) && Sysfs.exists(path) && Self.blockNodeIsLive(path) ? path : nil },
                                  extract: { _ in path })
    }

    /// The PCI device at a guest PCI path: its DEVPATH (whose last component is its guest
    /// address).
    public func pciDevice(_ path: PCIPath, timeout: Duration? = nil) async throws(SandboxError) -> String {
        let devpath: String
        switch path.devpath(sysfs: paths.sysfs) {
        case .success(let resolved): devpath = resolved
        case .failure(let error): throw SandboxError(.system, "PCI device: \(error)")
        }
        let sysfs = paths.sysfs
        return try await hub.wait(for: .pciDevice(devpath: devpath, what: "PCI device at PCI path \(path) (\(devpath))"),
                                  timeout: timeout, fastPath: { Sysfs.exists(sysfs + devpath) ? devpath : nil },
                                  extract: { _ in devpath })
    }

    /// The network interface of the NIC at a PCI path: its name ("eth1").
    public func netInterface(pciPath text: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        let devpath = try resolve(pciPath: text, what: "network interface")
        let sysfs = paths.sysfs
        return try await hub.wait(for: .netInterface(under: devpath, what: "network interface at PCI path \(text) (\(devpath)/…/net/*)"),
                                  timeout: timeout, fastPath: {
            if let name = Sysfs.list(sysfs + devpath + "/net")?.sorted().first { return name }
            for entry in (Sysfs.list(sysfs + devpath) ?? []).sorted() where Self.isVirtioEntry(entry) {
                if let name = Sysfs.list(sysfs + devpath + "/" + entry + "/net")?.sorted().first { return name }
            }
            return nil
        }, extract: { $0.interface })
    }

    /// The VFIO group node "/dev/vfio/<group>".
    public func vfioGroup(_ group: String, timeout: Duration? = nil) async throws(SandboxError) -> String {
        guard !group.isEmpty, group.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw SandboxError(.system, "IOMMU group \"\(group)\" is not a number")
        }
        let path = paths.node("vfio/" + group)
        return try await hub.wait(for: .vfioGroup(group, what: "VFIO group \(group) (/devices/virtual/vfio/\(group))"), timeout: timeout,
                                  fastPath: { Sysfs.exists(path) ? path : nil }, extract: { _ in path })
    }

    // MARK: helpers

    func resolve(pciPath text: String, what: String) throws(SandboxError) -> String {
        let path: PCIPath
        switch PCIPath.parse(text) {
        case .success(let parsed): path = parsed
        case .failure(let error): throw SandboxError(.invalidArgument, "\(what): \(error)")
        }
        switch path.devpath(sysfs: paths.sysfs) {
        case .success(let devpath): return devpath
        case .failure(let error): throw SandboxError(.system, "\(what): \(error)")
        }
    }

    /// The name below /dev of a runtime-given node "/dev/<name>".
    func deviceName(_ node: String, what: String) throws(SandboxError) -> String {
        guard let name = node.dropPrefix("/dev/"), DeviceName.isPlain(name) else {
            throw SandboxError(.invalidArgument, "\(what) \"\(node)\" is not /dev/<name>")
        }
        return String(name)
    }

    /// Writes "0 <id> <lun>" to every /sys/class/scsi_host/*/scan; fails only when no host
    /// took it.
    func scanSCSIHosts(_ address: SCSIAddress) throws(SandboxError) {
        let hostsDirectory = paths.sysfs + "/class/scsi_host"
        let hosts = (Sysfs.list(hostsDirectory) ?? []).sorted()
        guard !hosts.isEmpty else {
            throw SandboxError(.system, "SCSI disk \(address): no SCSI host in \(hostsDirectory) (is virtio_scsi loaded?)")
        }
        var failures: [String] = []
        for host in hosts {
            do {
                try Sysfs.write(address.scanRequest, to: hostsDirectory + "/" + host + "/scan")
            } catch {
                failures.append("\(error)")
            }
        }
        if failures.count == hosts.count {
            throw SandboxError(.system, "SCSI disk \(address): scan failed on every host: \(failures.joined(separator: "; "))")
        }
    }

    /// False while the kernel is still adding the disk, which the wait's add uevent then
    /// catches: its sysfs entry is listed before devtmpfs has made the /dev node (ENOENT), and
    /// the node opens with ENXIO until the block device is registered. Other errors (EACCES,
    /// a medium error) mean the disk is there.
    static func blockNodeIsLive(_ node: String) -> Bool {
        let fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        if fd >= 0 {
            close(fd)
            return true
        }
        let error = errno
        return error != ENXIO && error != ENOENT
    }

    static func isVirtioEntry(_ name: String) -> Bool {
        guard let digits = name.dropPrefix("virtio") else { return false }
        return !digits.isEmpty && digits.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? ""
    }
}
