import ArgumentParser
import Foundation
import Logging
import PetalsModel
import PetalsSwarm
import PluginAPI

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text from a prompt, streaming tokens to stdout as they come.")

    @OptionGroup var plugins: PluginOptions

    @Option(help: "Model file or directory.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "The prompt text.")
    var prompt: String

    @Flag(help: "Wrap the prompt as a user message in the model's chat template.")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(name: .customLong("max-new-tokens"), help: "Tokens to generate at most.")
    var maxNewTokens = 64

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0

    @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: all).")
    var topK = 40

    @Option(name: .customLong("top-p"), help: "Keep the smallest set of tokens whose probability reaches p.")
    var topP: Float = 0.95

    @Option(name: .customLong("repetition-penalty"), help: "Penalty > 1 discourages repeating recent tokens.")
    var repetitionPenalty: Float = 1

    @Option(help: "Random seed for sampling (default: random).")
    var seed: UInt64?

    @Option(name: .customLong("blocks"),
            help: "Run this block range as its own shard (a:b); repeat to chain shards, e.g. --blocks 0:15 --blocks 15:30.")
    var blocks: [String] = []

    @Option(help: "Run the blocks on these shard servers (comma-separated host:port, tcp://host:port, unix:///path); embeddings and head run here.")
    var peers: String?

    @Option(name: .customLong("wire-dtype"), help: "Activation precision sent to --peers: f32 or f16.")
    var wireDType = "f32"

    @Option(name: .customLong("tls-ca"), help: "CA bundle that tls:// peers' certificates must chain to.")
    var tlsCA: String?

    @Option(help: "Compute threads (0: all CPUs).")
    var threads = 0

    @Flag(name: .customLong("token-ids"), help: "Print the prompt and generated token ids to stderr.")
    var printTokenIDs = false

    @Flag(help: "Do not print timing statistics to stderr.")
    var quiet = false

    func validate() throws {
        guard maxNewTokens > 0 else { throw ValidationError("--max-new-tokens must be at least 1") }
        guard threads >= 0 else { throw ValidationError("--threads must be >= 0") }
        guard WireDType(name: wireDType) != nil else { throw ValidationError("--wire-dtype must be f32 or f16") }
        if peers != nil, !blocks.isEmpty { throw ValidationError("--peers and --blocks cannot be combined") }
    }

    func run() throws {
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP,
                                          repetitionPenalty: repetitionPenalty, seed: seed)
        try sampling.validate()
        let ranges = try blocks.map(BlockRange.parse)
        guard FileManager.default.fileExists(atPath: model) else {
            throw ValidationError("model \(model) does not exist (run scripts/setup.sh to fetch the default model)")
        }
        let host = try plugins.loadHost()
        let pool = ComputePool(threads: threads)
        let backend: InferenceBackend
        let description: ModelDescription
        if let peers {
            LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            var options = SwarmClientOptions()
            options.dtype = WireDType(name: wireDType) ?? .f32
            options.tlsCA = tlsCA
            let addresses = try PeerAddress.parseList(peers)
            guard !addresses.isEmpty else { throw ValidationError("--peers lists no address") }
            let remote = try RemoteBackend(host: host, modelPath: model,
                                           directory: SwarmDirectory(peers: addresses, host: host, options: options), pool: pool)
            (backend, description) = (remote, remote.modelDescription)
        } else {
            let pipeline = try ModelLoadProgress.around(model, report: { printError($0) }) {
                try LocalPipeline.load(host: host, path: model, ranges: ranges, pool: pool)
            }
            (backend, description) = (pipeline, pipeline.shards[0].modelDescription)
        }
        let tokenizer = try BPETokenizer(description.tokenizer)
        let generator = TextGenerator(tokenizer: tokenizer, backend: backend)

        var text = PromptText(prompt)
        if chat {
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            text = try ChatTemplate(template: description.tokenizer.chatTemplate, architecture: description.architecture,
                                    tokenizer: tokenizer).render(messages)
        }
        let promptTokens = generator.tokenize(text)
        let result = try generator.generate(promptTokens: promptTokens, maxNewTokens: maxNewTokens,
                                            sampling: sampling) { piece in
            FileHandle.standardOutput.write(Data(piece.utf8))
        }
        FileHandle.standardOutput.write(Data("\n".utf8))
        if printTokenIDs {
            printError("prompt ids: \(result.promptTokens)")
            printError("generated ids: \(result.tokens)")
        }
        if !quiet {
            let prefillRate = result.prefillSeconds > 0 ? Double(promptTokens.count) / result.prefillSeconds : 0
            printError(String(format: "[%d prompt tokens, %.1f tok/s prefill; %d generated, %.1f tok/s decode; stop: %@; %d threads]",
                              promptTokens.count, prefillRate, result.tokens.count,
                              result.decodeTokensPerSecond, result.stopReason.rawValue, pool.threads))
        }
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
