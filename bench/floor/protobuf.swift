// A static program that encodes and decodes one message with SwiftProtobuf, the library the
// agent's generated code needs: its bytes fields are FoundationEssentials' Data, which brings
// the toolchain's prebuilt FoundationEssentials along (bench/suites/agent_binary.py).
import Glibc
import SwiftProtobuf

var message = Google_Protobuf_BytesValue()
message.value = .init(CommandLine.arguments[0].utf8)
let bytes: [UInt8] = try message.serializedBytes()
let decoded = try Google_Protobuf_BytesValue(serializedBytes: bytes)
print("ready", bytes.count, decoded.value.count)
fflush(stdout)
pause()
