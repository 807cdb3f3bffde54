import ArgumentParser
import PluginAPI

struct PluginsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins",
        abstract: "List the plugins the node loads, and any that failed to load.")

    @OptionGroup var plugins: PluginOptions

    func run() throws {
        let host = try plugins.loadHost()
        print("plugin directory: \(host.directory)")
        if host.plugins.isEmpty { print("no plugins loaded") }
        for plugin in host.plugins {
            print("  \(plugin.name) \(plugin.version) [\(plugin.kind.rawValue)] \(plugin.summary)")
            print("    \(plugin.file)")
        }
        for failure in host.failures {
            print("  failed: \(failure)")
        }
        if !host.failures.isEmpty { throw ExitCode(1) }
    }
}
