import Synchronization

/// The exec_id each container's init was created with (CreateContainerRequest.exec_id).
///
/// The engine names a container's init by the empty exec id; the Kata runtime names it by the
/// exec_id it gave CreateContainer and uses that in WaitProcess, SignalProcess and the stdio
/// RPCs, as upstream's agent allows. The server translates at its edge so the engine keeps
/// one name for the init.
enum ContainerInitExecIDs {
    private static let ids = Mutex<[String: String]>([:])

    static func record(containerID: String, execID: String) {
        guard !execID.isEmpty else { return }
        ids.withLock { $0[containerID] = execID }
    }

    static func forget(containerID: String) {
        _ = ids.withLock { $0.removeValue(forKey: containerID) }
    }

    /// `execID` as the engine knows it: the init's creation exec_id becomes "".
    static func engineExecID(containerID: String, execID: String) -> String {
        guard !execID.isEmpty else { return execID }
        return ids.withLock { $0[containerID] == execID } ? "" : execID
    }
}
