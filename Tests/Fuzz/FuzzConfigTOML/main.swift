import AgentConfig
import FuzzDriver

/// libFuzzer input: the bytes are an agent TOML configuration file. Passes when nothing traps
/// (syntax errors are thrown ConfigErrors, bad values warnings).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? AgentConfiguration.parse(toml: text, file: "fuzz.toml")
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
