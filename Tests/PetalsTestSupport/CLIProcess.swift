import Foundation
import XCTest

/// A real `plumise-petals` process started from the build directory, its stderr kept in a
/// temporary file for failure messages; killed when released.
public final class CLIProcess {
    public let process = Process()
    /// The text after "ready " on the first ready line (empty until `waitUntilReady`).
    public private(set) var readyLine = ""
    private let output = Pipe()
    private let errorLog: URL

    /// Starts `plumise-petals arguments` with `environment` added to (or, with
    /// `inheritEnvironment: false`, instead of) this process's environment.
    public init(_ arguments: [String], environment: [String: String] = [:], inheritEnvironment: Bool = true) throws {
        let executable = TestModel.buildDirectory + "/plumise-petals"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw XCTSkip("\(executable) is not built (run swift build before swift test)")
        }
        errorLog = FileManager.default.temporaryDirectory.appendingPathComponent("plumise-cli-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: errorLog.path, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = inheritEnvironment ? ProcessInfo.processInfo.environment : [:]
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: errorLog)
        try process.run()
    }

    deinit {
        kill(SIGKILL)
        try? FileManager.default.removeItem(at: errorLog)
    }

    public func kill(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// What the process wrote to stderr so far.
    public var errorOutput: String { (try? String(contentsOf: errorLog, encoding: .utf8)) ?? "" }

    /// Waits for the "ready ..." line on stdout and returns what follows "ready ".
    @discardableResult
    public func waitUntilReady(timeout: Double = 60) throws -> String {
        let handle = output.fileHandleForReading
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = Data()
        while Date() < deadline {
            var poller = pollfd(fd: handle.fileDescriptor, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 100) > 0 {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                if let text = String(data: buffer, encoding: .utf8),
                   let line = text.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) {
                    readyLine = String(line.dropFirst("ready ".count))
                    return readyLine
                }
            }
            if !process.isRunning { break }
        }
        throw CLIProcessError.notReady(stdout: String(decoding: buffer, as: UTF8.self), stderr: errorOutput)
    }

    /// Waits for the process to end and returns its exit status (nil on timeout).
    public func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }
}

public enum CLIProcessError: Error, CustomStringConvertible {
    case notReady(stdout: String, stderr: String)

    public var description: String {
        switch self {
        case .notReady(let stdout, let stderr): "process not ready; stdout: \(stdout)\nstderr: \(stderr)"
        }
    }
}
