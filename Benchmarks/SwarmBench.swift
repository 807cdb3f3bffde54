import Foundation
import PetalsModel
import PetalsSwarm
import PluginAPI

/// Decode speed of the model split across two shard servers on loopback (separate processes),
/// against one server holding every block and against this process alone; plus the bare
/// round-trip time of one hop (an info request: protocol and transport, no compute).
enum SwarmBench {
    struct Result: Codable {
        var transport: String
        var serverThreads: Int
        var localDecodeTokensPerSecond: Double
        var oneServerDecodeTokensPerSecond: Double
        var twoServersDecodeTokensPerSecond: Double
        var twoServersOverLocal: Double
        var twoServersOverOneServer: Double
        var hopRoundTripP50Ms: Double
        var hopRoundTripP99Ms: Double
        var twoServersTokenLatencyP50Ms: Double
    }

    static func run(host: PluginHost, model: String, local: InferenceBackend, pool: ComputePool, transport: String,
                    serverThreads: Int, decodeTokens: Int, repetitions: Int, log: (String) -> Void) throws -> Result {
        let blockCount = local.hyperparameters.blockCount
        let half = blockCount / 2
        func measure(_ label: String, _ backend: InferenceBackend) throws -> ModelBench.Result {
            log("  \(label):")
            return try ModelBench.run(pipeline: backend, modelName: label, promptLengths: [], decodeTokens: decodeTokens,
                                      repetitions: repetitions, threads: pool.threads, log: { log("  " + $0) })
        }
        let localResult = try measure("this process, all blocks", local)

        let whole = try ServerChild(model: model, blocks: 0..<blockCount, transport: transport, threads: serverThreads)
        let oneResult = try measure("1 server, blocks 0:\(blockCount)",
                                    try remote(host: host, model: model, peers: [whole.address], pool: pool))
        whole.stop()

        let first = try ServerChild(model: model, blocks: 0..<half, transport: transport, threads: serverThreads)
        let second = try ServerChild(model: model, blocks: half..<blockCount, transport: transport, threads: serverThreads)
        let twoResult = try measure("2 servers, blocks 0:\(half) + \(half):\(blockCount)",
                                    try remote(host: host, model: model, peers: [first.address, second.address], pool: pool))

        // The bare cost of a hop: request/response round trips with no compute behind them.
        let client = try PeerClient(address: first.address, host: host)
        var trips: [Double] = []
        for _ in 0..<300 { trips.append(try timed { _ = try client.info() }) }
        client.close()
        first.stop()
        second.stop()
        let p50 = percentile(trips, 50) * 1000, p99 = percentile(trips, 99) * 1000
        log(String(format: "  hop round trip (info request): p50 %.3f ms  p99 %.3f ms", p50, p99))
        let result = Result(
            transport: transport, serverThreads: serverThreads,
            localDecodeTokensPerSecond: localResult.decodeTokensPerSecond,
            oneServerDecodeTokensPerSecond: oneResult.decodeTokensPerSecond,
            twoServersDecodeTokensPerSecond: twoResult.decodeTokensPerSecond,
            twoServersOverLocal: twoResult.decodeTokensPerSecond / localResult.decodeTokensPerSecond,
            twoServersOverOneServer: twoResult.decodeTokensPerSecond / oneResult.decodeTokensPerSecond,
            hopRoundTripP50Ms: p50, hopRoundTripP99Ms: p99,
            twoServersTokenLatencyP50Ms: twoResult.tokenLatencyP50Ms)
        log(String(format: "  2 servers / this process: %.2fx   2 servers / 1 server: %.2fx",
                   result.twoServersOverLocal, result.twoServersOverOneServer))
        return result
    }

    private static func remote(host: PluginHost, model: String, peers: [PeerAddress], pool: ComputePool) throws -> RemoteBackend {
        try RemoteBackend(host: host, modelPath: model, directory: SwarmDirectory(peers: peers, host: host), pool: pool)
    }
}

/// A `plumise-petals serve` child process (the executable next to petals-bench).
final class ServerChild {
    let process = Process()
    let address: PeerAddress

    init(model: String, blocks: Range<Int>, transport: String, threads: Int) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        process.executableURL = directory.appendingPathComponent("plumise-petals")
        var listen = ["--host", "127.0.0.1", "--port", "0"]
        if transport == "unix" { listen = ["--listen", NSTemporaryDirectory() + "petals-bench-\(getpid())-\(blocks.lowerBound).sock"] }
        process.arguments = ["serve", "--shard-only", "--watch-pid", "\(getpid())", "--model", model, "--blocks", "\(blocks.lowerBound):\(blocks.upperBound)",
                             "--threads", "\(threads)", "--transport", transport] + listen
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line is "ready <address>".
        var line = Data()
        while let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty, byte != Data([10]) {
            line.append(byte)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard text.hasPrefix("ready ") else {
            process.terminate()
            throw BenchError("server for blocks \(blocks) did not start: \(text)")
        }
        address = try PeerAddress(parsing: String(text.dropFirst(6)))
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit { stop() }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
