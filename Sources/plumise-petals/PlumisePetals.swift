import ArgumentParser

@main
struct PlumisePetals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plumise-petals",
        abstract: "A Plumise network inference node: serve transformer shards, generate text, earn rewards.",
        subcommands: [ServeCommand.self, GenerateCommand.self, StatusCommand.self, DevnetCommand.self, PluginsCommand.self]
    )
}
