import Foundation
import PetalsModel
import PetalsSwarm
import PetalsTestSupport
import PluginAPI
import XCTest

/// Shared pieces of the swarm tests: listen arguments per transport, local reference outputs,
/// and remote generators over real servers.
enum SwarmFixtures {
    static let prompts = [
        "The capital of France is",
        "def fibonacci(n):",
        "Once upon a time, in a small village,",
        "List three colors:",
    ]

    /// `serve` arguments that make a server listen on a free local address of `transport`.
    static func listenArguments(_ transport: String, name: String) -> [String] {
        switch transport {
        case "unix":
            let path = NSTemporaryDirectory() + "petals-\(getpid())-\(name).sock"
            return ["--transport", "unix", "--listen", path]
        default:
            return ["--transport", "tcp", "--host", "127.0.0.1", "--port", "0"]
        }
    }

    /// Greedy tokens of the whole model in this process: what every route must reproduce.
    static func localGreedy(_ prompt: String, tokens: Int) throws -> [Int] {
        let generator = TextGenerator(tokenizer: try TestModel.tokenizer(), backend: try TestModel.pipeline())
        return try generator.generate(promptTokens: generator.tokenize(prompt), maxNewTokens: tokens,
                                      sampling: SamplingParameters(), stopAtEndOfGeneration: false).tokens
    }

    static func remoteGenerator(peers: [PeerAddress], options: SwarmClientOptions = fastFailover) throws
        -> (TextGenerator, RemoteBackend) {
        let host = try TestModel.host()
        let backend = try RemoteBackend(host: host, modelPath: TestModel.path,
                                        directory: SwarmDirectory(peers: peers, host: host, options: options),
                                        pool: TestModel.pool)
        return (TextGenerator(tokenizer: try TestModel.tokenizer(), backend: backend), backend)
    }

    /// Short backoffs so failure tests do not wait long.
    static var fastFailover: SwarmClientOptions {
        var options = SwarmClientOptions()
        options.backoffSeconds = 0.05
        options.maxAttempts = 4
        options.requestTimeout = 30
        return options
    }
}
