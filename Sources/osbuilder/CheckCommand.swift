import ArgumentParser
import Foundation
import OSBuilder

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a rootfs directory, initrd or image: init, static agent, mount points, files, modules-load list.")

    @Argument(help: "A rootfs directory, an initrd or a disk image.")
    var path: String

    func run() throws {
        try OSBuilderCommand.runReporting {
            let report = try Checker().check(path)
            print(report.rendered())
            if !report.passed { throw ExitCode.failure }
        }
    }
}
