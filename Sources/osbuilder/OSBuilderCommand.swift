import ArgumentParser
import Foundation
import OSBuilder

/// `osbuilder`: builds Kata guest rootfs directories, initrds and disk images from templates.
@main
struct OSBuilderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "osbuilder",
        abstract: "Build a Kata guest rootfs, initrd or disk image around a static kata-agent, rootless and reproducibly.",
        discussion: "Templates live in rootfs-templates/<name>/template.conf (see osbuilder/README.md). "
            + "Set SOURCE_DATE_EPOCH (or --source-date-epoch) for byte-identical outputs.",
        subcommands: [RootfsCommand.self, InitrdCommand.self, ImageCommand.self, CheckCommand.self, ListTemplatesCommand.self])

    /// Runs a step, printing any failure as one line and exiting non-zero.
    static func runReporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as OSBuilderError {
            FileHandle.standardError.write(Data("osbuilder: error: \(error)\n".utf8))
            throw ExitCode.failure
        }
    }
}
