import KataProtocols

// Field checks for CreateSandbox and for the Storage/KernelModule messages other groups share
// (CreateContainer and UpdateEphemeralMounts carry storages too).
extension RequestValidation {
    /// HOST_NAME_MAX on Linux.
    static let maximumHostnameLength = 64
    /// MODULE_NAME_LEN - 1 on Linux.
    static let maximumModuleNameLength = 55

    /// CreateSandbox: every field the agent acts on.
    static func createSandbox(_ request: Grpc_CreateSandboxRequest) throws(ValidationError) {
        try id(request.sandboxID, field: "sandbox_id")
        try hostname(request.hostname, field: "hostname")
        for (index, line) in request.dns.enumerated() {
            // Each entry becomes one resolv.conf line; a newline would smuggle in more.
            try text(line, field: "dns[\(index)]", maximumLength: 1024)
            if line.contains(where: { $0 == "\n" || $0 == "\r" }) {
                throw ValidationError(field: "dns[\(index)]", reason: "must be a single line")
            }
        }
        try absolutePath(request.guestHookPath, field: "guest_hook_path", allowEmpty: true)
        for (index, module) in request.kernelModules.enumerated() {
            try kernelModule(module, field: "kernel_modules[\(index)]")
        }
        for (index, entry) in request.storages.enumerated() {
            try storage(entry, field: "storages[\(index)]")
        }
    }

    /// A hostname: empty (keep the current one) or up to 64 bytes of letters, digits, '-' and '.'.
    static func hostname(_ value: String, field: String) throws(ValidationError) {
        try text(value, field: field, maximumLength: maximumHostnameLength)
        for byte in value.utf8 {
            let ok =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_")
            if !ok { throw ValidationError(field: field, reason: "'\(value)' is not a valid hostname") }
        }
    }

    /// A kernel module: a plain module name and NUL-free parameters.
    static func kernelModule(_ module: Grpc_KernelModule, field: String) throws(ValidationError) {
        let name = module.name
        guard !name.isEmpty else { throw ValidationError(field: field + ".name", reason: "must not be empty") }
        guard name.utf8.count <= maximumModuleNameLength else {
            throw ValidationError(field: field + ".name", reason: "is longer than \(maximumModuleNameLength) bytes")
        }
        for byte in name.utf8 {
            let ok =
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
            if !ok { throw ValidationError(field: field + ".name", reason: "'\(name)' is not a module name") }
        }
        for (index, parameter) in module.parameters.enumerated() {
            try text(parameter, field: field + ".parameters[\(index)]", maximumLength: 4096)
        }
    }

    /// A Storage: a driver name, a clean absolute mount point (a trailing '/' allowed, as runtimes send it), NUL-free source/fstype/options.
    /// Whether the driver is supported is the domain's call (it names the driver when it is not).
    static func storage(_ storage: Grpc_Storage, field: String) throws(ValidationError) {
        try text(storage.driver, field: field + ".driver", maximumLength: 64, allowEmpty: false)
        try absolutePath(storage.mountPoint, field: field + ".mount_point", allowTrailingSlash: true)
        try text(storage.source, field: field + ".source", maximumLength: 4096)
        try text(storage.fstype, field: field + ".fstype", maximumLength: 64)
        for (index, option) in storage.options.enumerated() {
            try text(option, field: field + ".options[\(index)]", maximumLength: 4096)
        }
        for (index, option) in storage.driverOptions.enumerated() {
            try text(option, field: field + ".driver_options[\(index)]", maximumLength: 4096)
        }
        if storage.hasFsGroup, case .UNRECOGNIZED(let value) = storage.fsGroup.groupChangePolicy {
            throw ValidationError(field: field + ".fs_group.group_change_policy", reason: "\(value) is not a change policy")
        }
    }
}
