import Foundation
import PetalsSwarm
import PetalsTestSupport
import XCTest

/// A real `plumise-petals serve` process, started from the build directory; killed on deinit.
final class ServerProcess {
    let process = Process()
    let address: PeerAddress
    private let output = Pipe()

    /// Starts `serve` with `arguments` and waits for its "ready <address>" line.
    init(_ arguments: [String], timeout: Double = 60) throws {
        let executable = TestModel.buildDirectory + "/plumise-petals"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw XCTSkip("\(executable) is not built (run swift build before swift test)")
        }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["serve", "--shard-only", "--watch-pid", "\(getpid())", "--model", TestModel.path, "--threads", "1"] + arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        address = try Self.readReadyLine(output.fileHandleForReading, timeout: timeout, process: process)
    }

    deinit { kill(SIGKILL) }

    func kill(_ signal: Int32) {
        if process.isRunning { Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits for the process to end and returns its exit status.
    func waitForExit(timeout: Double = 20) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        return process.isRunning ? nil : process.terminationStatus
    }

    private static func readReadyLine(_ handle: FileHandle, timeout: Double, process: Process) throws -> PeerAddress {
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
                    return try PeerAddress(parsing: String(line.dropFirst("ready ".count)))
                }
            }
            if !process.isRunning { break }
        }
        throw ServerProcessError.notReady(String(decoding: buffer, as: UTF8.self))
    }
}

enum ServerProcessError: Error {
    case notReady(String)
}
