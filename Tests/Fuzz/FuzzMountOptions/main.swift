import ContainerEngine
import FuzzDriver
import LinuxKit
@testable import Sandbox

/// libFuzzer input: mount options from a request (one option per line, each may hold
/// comma-separated words), through every parser that reads them: the storage mounter's flag
/// words, the OCI mount options, the storage drivers' key=value options, hugetlbfs sizes,
/// byte counts and group ids; and the same text as a /proc/self/mountinfo table. Checked: no
/// trap; a valid hugetlbfs pool has at least one page.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let text = String(decoding: UnsafeRawBufferPointer(start: start, count: count), as: UTF8.self)
    let options = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)

    _ = ParsedMountOptions.parse(options)
    let oci = MountOptions(options)
    _ = oci.dataString
    _ = try? StorageOptions.keyValues(options, what: "fuzz")
    _ = try? StorageOptions.keyValues(options, allowed: ["size", "pagesize", StorageOptions.fsGID], what: "fuzz")
    if let pages = try? HugePages.parse(options, what: "fuzz") {
        precondition(pages.pages >= 1, "hugetlbfs pool of \(pages.size) bytes in \(pages.pageSize)-byte pages has no page")
    }
    for option in options.prefix(8) {
        _ = try? StorageOptions.byteCount(option, field: "size", what: "fuzz")
        _ = try? StorageOptions.groupID(option, what: "fuzz")
        _ = MountTable.normalized(option)
    }
    _ = VolumeResize.mount(at: options.first ?? "/", in: text)
    for line in text.split(separator: "\n").prefix(8) {
        _ = MountTable.unescape(line)
    }
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
