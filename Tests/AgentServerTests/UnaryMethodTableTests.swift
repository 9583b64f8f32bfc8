import AgentWire
import GRPCCore
import Logging
import XCTest

@testable import AgentServer
@testable import Sandbox

/// The ttrpc codec's direct table lists every unary method the agent's services register with
/// GRPCServer, and nothing else: a method added to a service but not to the table would still
/// work (through GRPCServer), only slower, so this is where it is noticed.
final class UnaryMethodTableTests: XCTestCase {
    func testTableListsEveryUnaryMethodOfTheServices() {
        var logger = Logger(label: "unary-table-test")
        logger.logLevel = .critical
        let options = AgentServer.Options(address: .unix(path: "/nonexistent/agent.sock"), agentVersion: "test")
        let api = AgentServer.api(options: options, sandbox: SandboxState(environment: .live(logger: logger)), logger: logger)
        var router = RPCRouter<AgentServerTransport>()
        for service in api.services { service.registerMethods(with: &router) }
        let key = { (descriptor: MethodDescriptor) in "\(descriptor.service.fullyQualifiedService)/\(descriptor.method)" }
        let registered = Set(router.methods.map(key))
        let streaming: Set<String> = ["grpc.health.v1.Health/Watch"]
        XCTAssertEqual(Set(api.unaryMethods.descriptors.map(key)), registered.subtracting(streaming))
        XCTAssertEqual(api.unaryMethods.descriptors.count, 45)
    }
}
