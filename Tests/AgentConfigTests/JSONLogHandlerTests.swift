import Foundation
import Logging
import XCTest
@testable import AgentConfig

final class JSONLogHandlerTests: XCTestCase {
    private func decode(_ line: String) throws -> [String: String] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try XCTUnwrap(object as? [String: String], line)
    }

    func testLineHasUpstreamFields() throws {
        let sink = MemoryLogSink()
        var logger = Logger(label: "root") { JSONLogHandler(label: $0, level: .info, sink: sink) }
        logger[metadataKey: "sandbox"] = "abc"
        logger.info("hello \"world\"\nnext", metadata: ["container": "c1", "count": "\(3)"])
        logger.debug("filtered out")
        XCTAssertEqual(sink.lines.count, 1)
        let line = try XCTUnwrap(sink.lines.first)
        XCTAssertFalse(line.contains("\n"))
        let fields = try decode(line)
        XCTAssertEqual(fields["msg"], "hello \"world\"\nnext")
        XCTAssertEqual(fields["level"], "INFO")
        XCTAssertEqual(fields["pid"], "\(getpid())")
        XCTAssertEqual(fields["name"], "kata-agent")
        XCTAssertEqual(fields["source"], "agent")
        XCTAssertEqual(fields["subsystem"], "root")
        XCTAssertEqual(fields["sandbox"], "abc")
        XCTAssertEqual(fields["container"], "c1")
        XCTAssertEqual(fields["count"], "3")
        let ts = try XCTUnwrap(fields["ts"])
        XCTAssertNotNil(ts.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$"#, options: .regularExpression), ts)
        XCTAssertTrue(line.hasPrefix("{\"msg\":"))
    }

    func testSubsystemMetadataOverridesLabelAndLevelsMapToSlogNames() throws {
        let sink = MemoryLogSink()
        let logger = Logger(label: "root") { JSONLogHandler(label: $0, level: .trace, sink: sink) }
        logger.trace("t", metadata: ["subsystem": "reaper"])
        logger.debug("d")
        logger.warning("w")
        logger.error("e")
        logger.critical("c")
        let fields = try sink.lines.map(decode)
        XCTAssertEqual(fields.map { $0["level"] }, ["TRCE", "DEBG", "WARN", "ERRO", "CRIT"])
        XCTAssertEqual(fields.first?["subsystem"], "reaper")
    }

    func testAnnounceShowsConfigAndWarnings() throws {
        let sink = MemoryLogSink()
        let logger = Logger(label: "root") { JSONLogHandler(label: $0, level: .info, sink: sink) }
        let loaded = AgentConfiguration.parse(cmdline: "agent.log=info agent.hotplug_timeout=0") { _ in "" }
        AgentLogging.announce(loaded, version: "1.2.3", logger: logger)
        let fields = try sink.lines.map(decode)
        XCTAssertEqual(fields.first?["msg"], "announce")
        XCTAssertEqual(fields.first?["agent-version"], "1.2.3")
        XCTAssertTrue(fields.first?["config"]?.contains("server_addr=vsock://-1:1024") ?? false)
        XCTAssertEqual(fields.last?["parameter"], "agent.hotplug_timeout")
        XCTAssertEqual(fields.last?["level"], "WARN")
    }

    func testRedirectableSinkBuffersThenFlushes() {
        let sink = RedirectableLogSink(target: nil, bufferLimit: 10)
        sink.write(line: "aaaa")
        sink.write(line: "bbbb")
        sink.write(line: "cccc")  // over the limit: "aaaa" is dropped
        let target = MemoryLogSink()
        sink.redirect(to: target)
        sink.write(line: "dddd")
        XCTAssertEqual(target.lines, ["bbbb", "cccc", "dddd"])
    }
}
