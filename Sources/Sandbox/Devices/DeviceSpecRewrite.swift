import OCISpec

/// The spec edits of CreateContainer.devices (upstream's update_spec_devices,
/// insert_devices_cgroup_rule and update_env_pci), on values only.
enum DeviceSpecRewrite {
    static func apply(_ updates: [(containerPath: String, update: ContainerDevices.Update)], to spec: inout Spec) throws(SandboxError) {
        var linux = spec.linux ?? Linux()
        var devices = linux.devices ?? []
        /// (type, host major, host minor) -> guest numbers, for the cgroup rules.
        var hostToGuest: [DeviceNumber: DeviceNumber] = [:]
        for (containerPath, update) in updates {
            guard let guest = update.number else { continue }
            guard let index = devices.firstIndex(where: { $0.path == containerPath }) else {
                throw SandboxError(.invalidArgument,
                                   "device for container path \(containerPath): the spec has no linux.devices entry with that path")
            }
            let host = DeviceNumber(type: devices[index].type, major: devices[index].major, minor: devices[index].minor)
            if let earlier = hostToGuest[host], earlier != guest {
                throw SandboxError(.invalidArgument,
                                   "two devices share host numbers \(host.type) \(host.major):\(host.minor) in linux.devices")
            }
            hostToGuest[host] = guest
            devices[index].major = guest.major
            devices[index].minor = guest.minor
            if let finalPath = update.finalPath { devices[index].path = finalPath }
        }
        linux.devices = devices.isEmpty ? linux.devices : devices

        let guests = updates.compactMap(\.update.number)
        if !guests.isEmpty {
            var resources = linux.resources ?? LinuxResources()
            var rules = resources.devices ?? []
            for index in rules.indices {
                guard let major = rules[index].major, let minor = rules[index].minor else { continue }
                let type = rules[index].type ?? "a"
                let candidates = type == "a" ? ["b", "c"] : [type]
                for candidate in candidates {
                    if let guest = hostToGuest[DeviceNumber(type: candidate, major: major, minor: minor)] {
                        rules[index].major = guest.major
                        rules[index].minor = guest.minor
                        break
                    }
                }
            }
            for guest in guests {
                rules.append(LinuxDeviceCgroup(allow: true, type: guest.type, major: guest.major, minor: guest.minor, access: "rwm"))
            }
            resources.devices = rules
            linux.resources = resources
        }
        spec.linux = linux

        let mapping = updates.flatMap(\.update.pci)
        if !mapping.isEmpty, var environment = spec.process?.env {
            try rewritePCIEnvironment(&environment, mapping: mapping)
            spec.process?.env = environment
        }
    }

    /// PCIDEVICE_<resource>=<host BDF>[,<host BDF>...] (SR-IOV device plugin) become guest
    /// addresses; PCIDEVICE_<resource>_INFO (JSON) gets the same addresses replaced. A value
    /// that is not a list of PCI addresses is left alone; a host address without a guest one
    /// is an error (the container would be handed the wrong device).
    static func rewritePCIEnvironment(_ environment: inout [String], mapping: [(host: PCIAddress, guest: PCIAddress)]) throws(SandboxError) {
        var table: [PCIAddress: PCIAddress] = [:]
        for (host, guest) in mapping {
            if let other = table[host], other != guest {
                throw SandboxError(.invalidArgument, "host PCI device \(host) maps to both \(other) and \(guest)")
            }
            table[host] = guest
        }
        var infoReplacements: [String: [(String, String)]] = [:]
        for index in environment.indices {
            let entry = environment[index]
            guard let equals = entry.firstIndex(of: "=") else { continue }
            let name = String(entry[..<equals])
            guard name.hasPrefix("PCIDEVICE_"), !name.hasSuffix("_INFO") else { continue }
            let value = entry[entry.index(after: equals)...]
            var guestAddresses: [String] = []
            var replacements: [(String, String)] = []
            var allAddresses = true
            for hostText in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let host = PCIAddress(hostText) else {
                    allAddresses = false
                    break
                }
                guard let guest = table[host] else {
                    throw SandboxError(.invalidArgument, "\(name): host PCI address \(hostText) has no guest address among the container's devices")
                }
                guestAddresses.append(guest.description)
                replacements.append((String(hostText), guest.description))
            }
            guard allAddresses else { continue }
            environment[index] = name + "=" + guestAddresses.joined(separator: ",")
            infoReplacements[name + "_INFO"] = replacements
        }
        for index in environment.indices {
            let entry = environment[index]
            guard let equals = entry.firstIndex(of: "="), let replacements = infoReplacements[String(entry[..<equals])] else { continue }
            var value = String(entry[entry.index(after: equals)...])
            for (host, guest) in replacements {
                value = value.replacingAll(host, with: guest)
            }
            environment[index] = String(entry[..<equals]) + "=" + value
        }
    }
}

extension String {
    /// Every occurrence of `target` replaced (FoundationEssentials-free).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        result += rest
        return result
    }
}
