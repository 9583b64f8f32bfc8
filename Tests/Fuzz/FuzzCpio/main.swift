import Foundation
import FuzzDriver
import OSBuilder

/// libFuzzer input: a newc cpio archive (osbuilder check reads initrds it did not write).
/// Checked: no trap; what reads back writes out again with CpioWriter and reads back the same.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = Data(UnsafeRawBufferPointer(start: start, count: count))
    guard let members = try? CpioReader.read(data) else { return 0 }
    var written = Data()
    do {
        let writer = CpioWriter(sink: { written.append($0) })
        for member in members {
            try writer.append(name: member.name, header: member.header, contents: member.contents)
        }
        try writer.finish()
    } catch {
        preconditionFailure("rewriting \(members.count) members failed: \(error)")
    }
    let again: [CpioMember]
    do {
        again = try CpioReader.read(written)
    } catch {
        preconditionFailure("reading back the rewritten archive failed: \(error)")
    }
    precondition(again == members, "round trip changed the members")
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
