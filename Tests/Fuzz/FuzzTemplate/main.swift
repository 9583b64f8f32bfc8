import FuzzDriver
import OSBuilder

/// libFuzzer input: a rootfs template.conf. Checked: no trap (bad lines are OSBuilderErrors).
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    _ = try? TemplateParser.parse(text, file: "fuzz/template.conf")
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
