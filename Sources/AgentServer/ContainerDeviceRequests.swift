import KataProtocols
import Logging
import OCISpec
import Sandbox

/// CreateContainer.devices at the server's edge: protobuf to plain values, then the device
/// layer finds each one and rewrites the container's spec.
enum ContainerDeviceRequests {
    static func convert(_ devices: [Grpc_Device]) -> [DeviceRequest] {
        devices.map { DeviceRequest(type: $0.type, id: $0.id, vmPath: $0.vmPath, containerPath: $0.containerPath, options: $0.options) }
    }

    /// Validates, finds and applies `request.devices` to `spec` (nothing to undo: devices
    /// mount nothing).
    static func apply(_ request: Grpc_CreateContainerRequest, to spec: inout Spec, logger: Logger) async throws {
        guard !request.devices.isEmpty else { return }
        let devices = ContainerDevices(locator: DeviceLocator(hub: UeventHub.current(logger: logger)), logger: logger)
        try await devices.apply(convert(request.devices), to: &spec, containerID: request.containerID)
    }
}
