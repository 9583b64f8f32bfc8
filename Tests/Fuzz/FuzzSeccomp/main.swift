import ContainerEngine
import FoundationEssentials
import FuzzDriver
import OCISpec

/// libFuzzer input: a spec's linux.seccomp JSON, converted as CreateContainer converts it: the
/// Codable OCI type, the validated profile, a libseccomp filter (built, never loaded) and its
/// BPF program. Checked: no trap; every valid profile compiles to a non-empty program.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Data(UnsafeRawBufferPointer(start: start, count: count))
    guard let spec = try? JSONDecoder().decode(LinuxSeccomp.self, from: data),
          let profile = try? SeccompProfile(spec),
          let filter = try? SeccompFilter(profile: profile)
    else { return 0 }
    if let program = try? filter.exportBPF() {
        precondition(!program.isEmpty && program.count % 8 == 0, "BPF program of \(program.count) bytes")
    }
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
