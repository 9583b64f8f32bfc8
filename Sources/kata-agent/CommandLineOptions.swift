/// The agent's command line: `--version`, `--config FILE` / `-c FILE`, `--help`.
///
/// As PID 1 the kernel passes cmdline words it did not understand to init, so unknown
/// arguments are ignored there; as an ordinary process they are an error.
struct CommandLineOptions: Equatable {
    enum Action: Equatable {
        case run
        case version
        case help
    }

    var action: Action = .run
    var configFile: String?
    /// Arguments that were not understood (ignored as PID 1).
    var unknown: [String] = []

    static let usage = """
        usage: kata-agent [--config FILE]    run the agent (as PID 1 or as a service)
               kata-agent --version          print the version
               kata-agent init               container init (started by the agent itself)
               kata-agent init-zygote        clones container inits (started by the agent itself)
        The configuration comes from FILE, else from the kernel command line (/proc/cmdline)
        and the environment (KATA_AGENT_SERVER_ADDR, KATA_AGENT_LOG_LEVEL, KATA_AGENT_TRACING,
        KATA_AGENT_INIT_ZYGOTE, KATA_AGENT_POLICY_FILE).
        """

    /// Parses `arguments` without argv[0].
    static func parse(_ arguments: [String]) -> CommandLineOptions {
        var options = CommandLineOptions()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--version", "-V":
                options.action = .version
            case "--help", "-h":
                options.action = .help
            case "--config", "-c":
                if index + 1 < arguments.count {
                    options.configFile = arguments[index + 1]
                    index += 1
                } else {
                    options.unknown.append(argument)
                }
            default:
                if argument.hasPrefix("--config=") {
                    options.configFile = String(argument.dropFirst("--config=".count))
                } else {
                    options.unknown.append(argument)
                }
            }
            index += 1
        }
        return options
    }
}
