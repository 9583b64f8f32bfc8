@testable import AgentConfig
import FuzzDriver

/// libFuzzer input: the bytes are a kernel command line (/proc/cmdline is not guaranteed UTF-8).
/// Passes when nothing traps; a config_file parameter reads a fixed TOML document, so the file
/// path is exercised too.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let cmdline = String(decoding: bytes, as: UTF8.self)
    _ = AgentConfiguration.parse(cmdline: cmdline) { path in
        guard path.hasSuffix(".toml") else { throw FileMissing() }
        return "log_level = \"debug\"\nhotplug_timeout = { secs = 3, nanos = 5 }\n"
    }
    // The values the command line, the file and the environment share.
    for word in cmdline.split(separator: " ").prefix(16) {
        let text = String(word)
        _ = ValueParsing.bool(text)
        _ = ValueParsing.port(text)
        _ = ValueParsing.timeout(text)
        _ = ValueParsing.pipeSize(text)
        _ = ValueParsing.logLevel(text)
        _ = ValueParsing.serverAddress(text)
    }
    return 0
}

struct FileMissing: Error {}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
