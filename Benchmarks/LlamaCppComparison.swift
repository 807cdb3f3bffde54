import Foundation

/// Runs llama.cpp's llama-bench on the same file and threads, for a side-by-side ratio.
enum LlamaCppComparison {
    struct Result: Codable {
        var binary: String
        /// Rounds of ours-then-theirs; each figure below is the median over them.
        var rounds: Int
        var tokensPerSecond: [String: Double]
        var oursTokensPerSecond: [String: Double]
        /// The median of the rounds' ratios (each round's two runs back to back).
        var ratioOursOverTheirs: [String: Double]
        var roundRatios: [String: [Double]]
    }

    /// Alternates our measurement and llama-bench `rounds` times, so that a shared machine's
    /// drift (its memory bandwidth moves by a quarter over minutes) falls on both alike.
    /// `ours(round)` returns our tokens/s per test ("pp64", "tg128"); round 0 may reuse a
    /// measurement already made. Returns nil with a reason when llama-bench cannot run.
    static func compare(rounds: Int, binary: String, model: String, threads: Int, promptLengths: [Int],
                        decodeTokens: Int, repetitions: Int, ours: (Int) throws -> [String: Double],
                        log: (String) -> Void) rethrows -> (result: Result?, note: String?) {
        let rounds = max(rounds, 1)
        func logRow(_ test: String, _ our: Double, _ their: Double, _ ratio: Double) {
            log(String(format: "  %-6@ ours %8.1f  llama.cpp %8.1f  ratio %.2fx", test as NSString, our, their, ratio))
        }
        var oursByTest: [String: [Double]] = [:], theirsByTest: [String: [Double]] = [:], ratios: [String: [Double]] = [:]
        for round in 0..<rounds {
            let mine = try ours(round)
            let (theirs, note) = run(binary: binary, model: model, threads: threads, promptLengths: promptLengths,
                                     decodeTokens: decodeTokens, repetitions: repetitions)
            guard let theirs else { return (nil, note) }
            if rounds > 1 { log("round \(round + 1) of \(rounds):") }
            for (test, value) in theirs.sorted(by: { $0.key < $1.key }) {
                guard let our = mine[test] else { continue }
                oursByTest[test, default: []].append(our)
                theirsByTest[test, default: []].append(value)
                ratios[test, default: []].append(our / value)
                logRow(test, our, value, our / value)
            }
        }
        let result = Result(binary: binary, rounds: rounds, tokensPerSecond: theirsByTest.mapValues(median),
                            oursTokensPerSecond: oursByTest.mapValues(median), ratioOursOverTheirs: ratios.mapValues(median),
                            roundRatios: ratios)
        if rounds > 1 {
            log("median of \(rounds) rounds:")
            for (test, ratio) in result.ratioOursOverTheirs.sorted(by: { $0.key < $1.key }) {
                logRow(test, result.oursTokensPerSecond[test] ?? 0, result.tokensPerSecond[test] ?? 0, ratio)
            }
        }
        return (result, nil)
    }

    /// llama-bench's average tokens/s per test ("pp64", "pp512", "tg128"), or nil with a reason.
    static func run(binary: String, model: String, threads: Int, promptLengths: [Int], decodeTokens: Int,
                    repetitions: Int) -> (values: [String: Double]?, note: String?) {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            return (nil, "llama-bench not found at \(binary); comparison skipped")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["-m", model, "-t", "\(threads)", "-p", promptLengths.map(String.init).joined(separator: ","),
                             "-n", "\(decodeTokens)", "-r", "\(repetitions)", "-o", "json"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return (nil, "could not run \(binary): \(error)") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let rows = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            return (nil, "llama-bench failed (exit \(process.terminationStatus))")
        }
        var values: [String: Double] = [:]
        for row in rows {
            let prompt = row["n_prompt"] as? Int ?? 0, gen = row["n_gen"] as? Int ?? 0
            guard let rate = row["avg_ts"] as? Double else { continue }
            values[prompt > 0 ? "pp\(prompt)" : "tg\(gen)"] = rate
        }
        return (values, nil)
    }
}
