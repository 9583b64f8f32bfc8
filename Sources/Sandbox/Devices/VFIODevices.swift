import LinuxKit
import Logging

/// vfio-pci and vfio-pci-gk devices: each option "<host BDF>=<guest PCI path>" names one
/// function; the agent waits for it on the guest's PCI bus and records host -> guest
/// addresses (for PCIDEVICE_*). vfio-pci (the VFIO group is given to the container) also
/// switches every function to the vfio-pci driver, requires them to share one IOMMU group
/// and waits for /dev/vfio/<group>; vfio-pci-gk leaves them to their guest kernel drivers.
struct VFIODevices: Sendable {
    let locator: DeviceLocator
    let logger: Logger

    var sysfs: String { locator.paths.sysfs }

    func find(_ device: DeviceRequest, bindToVFIO: Bool, nodes: any DeviceNodeInspector) async throws(SandboxError) -> ContainerDevices.Update {
        let what = "\(device.type) device \(device.id)"
        var update = ContainerDevices.Update()
        var group: String?
        for option in device.options {
            guard let equals = option.firstIndex(of: "=") else {
                throw SandboxError(.invalidArgument, "\(what): option \"\(option)\" is not <host BDF>=<guest PCI path>")
            }
            let hostText = option[..<equals]
            let guestText = String(option[option.index(after: equals)...])
            guard let host = PCIAddress(hostText) else {
                throw SandboxError(.invalidArgument, "\(what): \"\(hostText)\" is not a PCI address DDDD:BB:DD.F")
            }
            if guestText.isEmpty { continue }  // upstream: no guest path, nothing to find
            let path: PCIPath
            switch PCIPath.parse(guestText) {
            case .success(let parsed): path = parsed
            case .failure(let error): throw SandboxError(.invalidArgument, "\(what): \(error)")
            }
            let devpath = try await locator.pciDevice(path)
            let bdfText = DeviceLocator.lastComponent(devpath)
            guard let guest = PCIAddress(bdfText) else {
                throw SandboxError(.system, "\(what): guest device \(devpath) has no PCI address")
            }
            update.pci.append((host, guest))
            if bindToVFIO {
                try bindVFIO(bdfText, what: what)
                let deviceGroup = try iommuGroup(bdfText, what: what)
                if let group, group != deviceGroup {
                    throw SandboxError(.invalidArgument, "\(what): functions are in different IOMMU groups (\(group), \(deviceGroup))")
                }
                group = deviceGroup
            }
        }
        if bindToVFIO {
            guard let group else {
                throw SandboxError(.invalidArgument, "\(what): no option names a guest PCI path, so there is no VFIO group to give the container")
            }
            let node = try await locator.vfioGroup(group)
            guard let number = nodes.deviceNumber(node) else {
                throw SandboxError(.system, "\(what): \(node) is not a device node")
            }
            update.node = node
            update.number = number
            update.finalPath = "/dev/vfio/" + group
        }
        return update
    }

    /// driver_override=vfio-pci, unbind from any other driver, then reprobe so vfio-pci takes it.
    func bindVFIO(_ bdf: String, what: String) throws(SandboxError) {
        let device = sysfs + "/bus/pci/devices/" + bdf
        do {
            try Sysfs.write("vfio-pci", to: device + "/driver_override")
            if let driver = Sysfs.readLink(device + "/driver"), DeviceLocator.lastComponent(driver) != "vfio-pci" {
                try Sysfs.write(bdf, to: device + "/driver/unbind")
            }
            if Sysfs.readLink(device + "/driver").map(DeviceLocator.lastComponent) != "vfio-pci" {
                try Sysfs.write(bdf, to: sysfs + "/bus/pci/drivers_probe")
            }
        } catch {
            throw SandboxError.system("\(what): bind \(bdf) to vfio-pci", error)
        }
        logger.info("PCI device bound to vfio-pci", metadata: ["bdf": "\(bdf)"])
    }

    func iommuGroup(_ bdf: String, what: String) throws(SandboxError) -> String {
        let link = sysfs + "/bus/pci/devices/" + bdf + "/iommu_group"
        guard let target = Sysfs.readLink(link) else {
            throw SandboxError(.system, "\(what): \(link) is missing (no IOMMU in the guest?)")
        }
        return DeviceLocator.lastComponent(target)
    }
}
