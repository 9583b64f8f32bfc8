import FuzzDriver
import LinuxKit

/// libFuzzer input: the bytes a virtio-serial port delivers, cut into reads at points the input
/// chooses. The first byte picks the read sizes and where the host is seen gone (`reset`) or
/// the session's server ends (`sessionEnded`). Checked: no trap, and the splitter never hands
/// on or discards more bytes than it was fed.
@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = [UInt8](UnsafeRawBufferPointer(start: start, count: count))
    guard let control = bytes.first else { return 0 }
    let stream = bytes.dropFirst()
    let chunk = Int(control & 0x3f) + 1
    var splitter = SerialSessionSplitter(maxFrameSize: control & 0x40 != 0 ? 16_384 : (1 << 24) - 1)
    var fed = 0
    var accounted = 0
    var index = stream.startIndex
    var round = 0
    while index < stream.endIndex {
        let end = min(stream.endIndex, index + chunk + (round % 3))
        let piece = Array(stream[index..<end])
        fed += piece.count
        for event in splitter.feed(piece) {
            switch event {
            case .newSession: break
            case let .bytes(passed):
                precondition(!passed.isEmpty, "empty bytes event")
                accounted += passed.count
            case let .discarded(dropped):
                precondition(dropped > 0, "empty discarded event")
                accounted += dropped
            }
        }
        precondition(accounted <= fed, "splitter emitted \(accounted) bytes of \(fed) fed")
        if control & 0x80 != 0, round % 7 == 6 {
            splitter.sessionEnded()
        }
        if control & 0x80 != 0, round % 11 == 10 {
            // Held bytes are dropped by a reset: start the accounting again.
            splitter.reset()
            fed = 0
            accounted = 0
        }
        index = end
        round += 1
    }
    return 0
}

kata_fuzz_run(CommandLine.argc, CommandLine.unsafeArgv, fuzzOne)
