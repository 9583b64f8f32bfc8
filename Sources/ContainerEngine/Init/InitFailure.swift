import Glibc

/// A failed step of container init, sent to the agent as a sync `error` message.
struct InitFailure: Error {
    let step: String
    let errno: Int32
    let detail: String

    init(_ step: String, errno: Int32 = 0, _ detail: String = "") {
        self.step = step
        self.errno = errno
        self.detail = detail
    }

    var message: String {
        var text = step
        if !detail.isEmpty { text += ": " + detail }
        if errno != 0 { text += ": " + String(cString: strerror(errno)) }
        return text
    }

    /// Throws for a shim's -errno return.
    @discardableResult
    static func check(_ rc: Int32, _ step: @autoclosure () -> String) throws -> Int32 {
        if rc < 0 { throw InitFailure(step(), errno: -rc) }
        return rc
    }

    /// Throws with the current errno for a libc call that returned -1.
    static func checkLibc(_ rc: Int32, _ step: @autoclosure () -> String) throws {
        if rc < 0 { throw InitFailure(step(), errno: Glibc.errno) }
    }
}
