import ArgumentParser
import Foundation
import OSBuilder

/// Options that describe a rootfs build; shared by `rootfs`, `initrd` and `image`.
struct RootfsOptionGroup: ParsableArguments {
    @Option(name: [.customShort("t"), .long], help: "Template name (DISTRO): see `osbuilder list-templates`.")
    var template: String = "minimal"

    @Option(name: .long, help: "Directory holding the templates (default: rootfs-templates next to the executable or in the working directory, or $OSBUILDER_TEMPLATES).")
    var templates: String?

    @Option(name: .long, help: "The static kata-agent binary to install (AGENT_SOURCE_BIN).")
    var agent: String?

    @Option(name: .long, help: "yes: the agent is /sbin/init; no: it is /usr/bin/kata-agent started by the template's init (AGENT_INIT). Default: the template's choice.")
    var agentInit: String?

    @Option(name: .long, help: "Extra Debian packages, space separated (EXTRA_PKGS; templates with a Debian base only).")
    var extraPkgs: String = ""

    @Option(name: .long, help: "A kernel's /lib/modules/<version> directory (KERNEL_MODULES_DIR).")
    var kernelModulesDir: String?

    @Option(name: .long, help: "Kernel modules to copy with their dependencies, space separated; listed in /etc/modules-load.d/kata.conf.")
    var modules: String = ""

    @Option(name: .long, help: "Add a host file: SRC:/DEST[:MODE] (repeatable), e.g. a static kata-agent-ctl.")
    var extraFile: [String] = []

    @Option(name: .long, help: "Clamp every timestamp to this Unix time (default: $SOURCE_DATE_EPOCH).")
    var sourceDateEpoch: Int64?

    @Option(name: .long, help: "Debian mirror URI for bootstrapping (default: the first matching source in /etc/apt).")
    var mirror: String?

    @Flag(name: [.customShort("q"), .long], help: "Print only errors.")
    var quiet = false

    var progress: BuildProgress { BuildProgress(quiet: quiet) }

    /// The epoch from the option or the environment.
    func epoch() throws -> Int64? {
        if let sourceDateEpoch { return sourceDateEpoch }
        guard let text = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], !text.isEmpty else { return nil }
        guard let value = Int64(text), value >= 0 else {
            throw OSBuilderError("read SOURCE_DATE_EPOCH", text, "not a non-negative integer")
        }
        return value
    }

    func rootfsOptions() throws -> RootfsOptions {
        let library = try TemplateLibrary.locate(explicit: templates)
        var options = RootfsOptions(template: try library.load(template))
        options.agentBinary = agent
        switch agentInit?.lowercased() {
        case nil, "": options.agentInit = nil
        case "yes", "true", "1": options.agentInit = true
        case "no", "false", "0": options.agentInit = false
        case let other?: throw OSBuilderError("parse --agent-init", other, "expected yes or no")
        }
        options.extraPackages = extraPkgs.split(separator: " ").map(String.init)
        options.kernelModulesDirectory = kernelModulesDir
        options.modules = modules.split(separator: " ").map(String.init)
        options.extraFiles = try extraFile.map { try RootfsOptions.ExtraFile.parse($0) }
        options.sourceDateEpoch = try epoch()
        options.mirror = mirror
        return options
    }

    /// Builds a rootfs into a temporary directory next to `output`, runs `body` on it, removes it.
    func withTemporaryRootfs(near output: String, _ body: (String) throws -> Void) throws {
        let options = try rootfsOptions()
        let dir = (output as NSString).deletingLastPathComponent
        let staging = (dir.isEmpty ? "." : dir) + "/.osbuilder-rootfs-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: staging) }
        try RootfsBuilder(options: options, progress: progress).build(into: staging, replace: true)
        try body(staging)
    }
}

struct RootfsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rootfs", abstract: "Stage a rootfs directory from a template (ROOTFS_DIR).")

    @OptionGroup var build: RootfsOptionGroup

    @Option(name: [.customShort("o"), .long], help: "The rootfs directory to create (ROOTFS_DIR).")
    var rootfsDir: String

    @Flag(name: .long, help: "Replace an existing non-empty rootfs directory.")
    var force = false

    func run() throws {
        try OSBuilderCommand.runReporting {
            try RootfsBuilder(options: try build.rootfsOptions(), progress: build.progress).build(into: rootfsDir, replace: force)
            build.progress.step("rootfs ready in \(rootfsDir)")
        }
    }
}
