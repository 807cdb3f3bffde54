import ArgumentParser
import PluginAPI

/// Where plugins come from; shared by every command that loads them.
struct PluginOptions: ParsableArguments {
    @Option(name: .customLong("plugins-dir"),
            help: "Directory of plugin libraries (default: $PLUMISE_PLUGINS_DIR, else next to the executable).")
    var pluginsDirectory: String?

    func loadHost() throws -> PluginHost {
        try PluginHost(directory: PluginHost.resolveDirectory(explicit: pluginsDirectory))
    }
}
