import ArgumentParser
import Foundation
import PetalsModel
import PluginAPI

/// petals-bench: prefill/decode tokens/s, per-token latency, RSS and kernel throughput against
/// the machine's memory bandwidth, optionally side by side with llama.cpp's llama-bench.
@main
struct PetalsBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "petals-bench",
        abstract: "Measure plumise-petals inference speed (build with -c release).")

    @Option(help: "Model file.")
    var model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(help: "Compute threads.")
    var threads = 2

    @Option(help: "Benchmark one block range a:b (hidden states in and out) instead of the whole model.")
    var blocks: String?

    @Option(name: .customLong("prompt-lengths"), help: "Prefill lengths, comma separated.")
    var promptLengths = "64,512"

    @Option(name: .customLong("decode-tokens"), help: "Tokens decoded one by one.")
    var decodeTokens = 128

    @Option(help: "Repetitions of each measurement (the median is reported).")
    var repetitions = 3

    @Flag(help: "Also run the kernel micro-benchmarks and the memory bandwidth test.")
    var kernels = false

    @Option(name: .customLong("compare-llama-cpp"), help: "Path of llama.cpp's llama-bench to run on the same file.")
    var llamaBench: String?

    @Option(help: "With --compare-llama-cpp: alternate ours and llama.cpp this many times; figures are medians.")
    var rounds = 1

    @Flag(help: "Also measure decode across 2 shard servers on loopback (child processes) against 1 server and this process.")
    var swarm = false

    @Option(name: .customLong("swarm-transport"), help: "Transport for --swarm: tcp or unix.")
    var swarmTransport = "tcp"

    @Option(name: .customLong("server-threads"), help: "Compute threads of each --swarm server.")
    var serverThreads = 2

    @Option(name: .customLong("batch-sizes"),
            help: "Also measure batched decode of this many sequences at once in this process, comma separated (e.g. 1,4,16,64).")
    var batchSizes: String?

    @Flag(help: "With --batch-sizes: also time each part of a step (products, attention, head; llama-family blocks), medians.")
    var phases = false

    @Option(help: "Write the JSON report here (default: stdout after the table).")
    var json: String?

    @Option(name: .customLong("plugins-dir"), help: "Plugin directory (default: next to the executable).")
    var pluginsDirectory: String?

    struct Report: Codable {
        var machine: [String: String]
        var memoryReadGBps: Double?
        var ours: ModelBench.Result
        var kernels: [KernelBench.Result]?
        var llamaCpp: LlamaCppComparison.Result?
        var swarm: SwarmBench.Result?
        var batched: [BatchBench.Row]?
        var notes: [String]
    }

    func run() throws {
        let lengths = promptLengths.split(separator: ",").compactMap { Int($0) }
        guard !lengths.isEmpty, lengths.allSatisfy({ $0 > 0 }) else {
            throw ValidationError("--prompt-lengths must be positive integers, e.g. 64,512")
        }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        func log(_ line: String) { FileHandle.standardError.write(Data((line + "\n").utf8)) }
        #if DEBUG
        log("warning: this is a debug build; measure with `swift build -c release`")
        #endif
        let host = try PluginHost(directory: PluginHost.resolveDirectory(explicit: pluginsDirectory))
        let pool = ComputePool(threads: threads)
        var notes: [String] = []
        let modelName = URL(fileURLWithPath: model).lastPathComponent

        var bandwidth: Double?
        var kernelResults: [KernelBench.Result]?
        if kernels {
            let measured = MemoryBandwidth.measure(pool: pool)
            bandwidth = measured
            log(String(format: "memory read bandwidth (%d threads): %.1f GB/s", pool.threads, measured / 1e9))
            log("kernels:")
            kernelResults = KernelBench.run(pool: pool, readBandwidth: { MemoryBandwidth.measure(pool: pool, repetitions: 3) },
                                            log: log)
        }

        log("\(modelName), \(blocks.map { "blocks \($0)" } ?? "whole model"), \(pool.threads) threads:")
        let ours: ModelBench.Result
        var swarmResult: SwarmBench.Result?
        var wholeModel: LocalPipeline?
        if let blocks {
            let range = try BlockRange.parse(blocks)
            let shard = try ModelShard(model: host.openModel(path: model, blocks: range), pool: pool, maxBatch: 512)
            ours = try ModelBench.runShard(shard, modelName: modelName, promptLengths: lengths, decodeTokens: decodeTokens,
                                           repetitions: repetitions, threads: pool.threads, log: log)
        } else {
            let pipeline = try LocalPipeline.load(host: host, path: model, ranges: nil, pool: pool, maxBatch: 512)
            wholeModel = pipeline
            ours = try ModelBench.run(pipeline: pipeline, modelName: modelName, promptLengths: lengths,
                                      decodeTokens: decodeTokens, repetitions: repetitions, threads: pool.threads, log: log)
            if swarm {
                log("swarm on loopback (\(swarmTransport)):")
                swarmResult = try SwarmBench.run(host: host, model: model, local: pipeline, pool: pool, transport: swarmTransport,
                                                 serverThreads: serverThreads, decodeTokens: decodeTokens,
                                                 repetitions: repetitions, log: log)
            }
        }
        if swarm && blocks != nil { notes.append("--swarm needs the whole model; skipped for a block range") }

        var batched: [BatchBench.Row]?
        if let batchSizes {
            let sizes = batchSizes.split(separator: ",").compactMap { Int($0) }
            guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--batch-sizes must be positive integers, e.g. 1,4,16,64")
            }
            log("batched decode (one step of every sequence per forward, 64-token prompts):")
            batched = try BatchBench.run(host: host, model: model, pool: pool, batchSizes: Array(Set(sizes + [1])).sorted(),
                                         promptLength: 64, decodeTokens: min(decodeTokens, 32), repetitions: repetitions, phases: phases,
                                         log: log)
        }

        var comparison: LlamaCppComparison.Result?
        if let llamaBench {
            if blocks != nil {
                notes.append("llama.cpp comparison needs the whole model; skipped for a block range")
            } else if let pipeline = wholeModel {
                log("vs llama.cpp (same file, \(pool.threads) threads):")
                let (result, note) = try LlamaCppComparison.compare(
                    rounds: rounds, binary: llamaBench, model: model, threads: pool.threads, promptLengths: lengths,
                    decodeTokens: decodeTokens, repetitions: repetitions,
                    ours: { round in
                        let mine = round == 0 ? ours : try ModelBench.run(
                            pipeline: pipeline, modelName: modelName, promptLengths: lengths, decodeTokens: decodeTokens,
                            repetitions: repetitions, threads: pool.threads, log: log)
                        var values = mine.prefillTokensPerSecond
                        values["tg\(decodeTokens)"] = mine.decodeTokensPerSecond
                        return values
                    }, log: log)
                if let note { notes.append(note); log(note) }
                comparison = result
            }
        }

        let report = Report(
            machine: ["cpus": "\(ProcessInfo.processInfo.activeProcessorCount)", "threads": "\(pool.threads)"],
            memoryReadGBps: bandwidth.map { $0 / 1e9 }, ours: ours, kernels: kernelResults, llamaCpp: comparison,
            swarm: swarmResult, batched: batched,
            notes: notes)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(report)
        if let json {
            try data.write(to: URL(fileURLWithPath: json))
            log("report written to \(json)")
        } else {
            print(String(decoding: data, as: UTF8.self))
        }
    }
}
