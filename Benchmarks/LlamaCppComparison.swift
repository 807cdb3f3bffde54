import Foundation

/// Runs llama.cpp's llama-bench on the same file and threads, for a side-by-side ratio.
enum LlamaCppComparison {
    struct Result: Codable {
        var binary: String
        var tokensPerSecond: [String: Double]
        var ratioOursOverTheirs: [String: Double]
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
