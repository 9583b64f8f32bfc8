/// The hostname PID 1 sets at boot.
public enum HostnameInit {
    /// The first word of /etc/hostname, or "localhost" when it is missing or empty (upstream).
    public static func initialHostname(system: any SystemCalls, path: String = "/etc/hostname") -> String {
        guard let text = try? system.readFile(path) else { return "localhost" }
        let word = text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).first
        return word.map(String.init) ?? "localhost"
    }

    /// Checks a hostname the way the kernel will take it: 1...64 bytes, no NUL or '/'.
    public static func validate(_ name: String) -> String? {
        if name.isEmpty { return "hostname is empty" }
        if name.utf8.count > 64 { return "hostname is longer than 64 bytes" }
        if name.utf8.contains(0) || name.contains("/") { return "hostname contains NUL or '/'" }
        return nil
    }
}
