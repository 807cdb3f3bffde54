import Foundation
import PetalsTestSupport
import XCTest

/// `plumise-petals plugins` as a user runs it: every plugin the host loads from the build
/// directory, with its kind, version and file; a missing directory is an error naming it.
final class PluginsCommandTests: XCTestCase {
    private func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let executable = TestModel.buildDirectory + "/plumise-petals"
        guard FileManager.default.isExecutableFile(atPath: executable) else {
            throw XCTSkip("\(executable) is not built (run swift build before swift test)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    func testEveryBuiltPluginIsListedWithItsKindAndFile() throws {
        let (status, output) = try run(["plugins"])
        XCTAssertEqual(status, 0, output)
        for (name, kind, file) in [("gguf", "model-format", "libGGUFPlugin.so"), ("safetensors", "model-format", "libSafetensorsPlugin.so"),
                                   ("tcp", "transport", "libTCPPlugin.so"), ("tls", "transport", "libTLSPlugin.so"),
                                   ("unix", "transport", "libUnixPlugin.so")] {
            XCTAssertNotNil(output.range(of: "\(name) [0-9.]+ \\[\(kind)\\]", options: .regularExpression), "\(name): \(output)")
            XCTAssertTrue(output.contains(file), "\(file): \(output)")
        }
        // The GGUF plugin names the K-quant types it reads.
        XCTAssertTrue(output.contains("Q4_K") && output.contains("IQ4_XS"), output)
    }

    func testAMissingPluginDirectoryIsNamed() throws {
        let missing = "/nonexistent-\(UUID().uuidString)"
        let (status, output) = try run(["plugins", "--plugins-dir", missing])
        XCTAssertNotEqual(status, 0, output)
        XCTAssertTrue(output.contains("plugin directory \(missing) does not exist"), output)
    }
}
