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
        case "tls":
            let identity = try! TestCertificates.shared()
            return ["--tls-cert", identity.certificate, "--tls-key", identity.key, "--host", "127.0.0.1", "--port", "0"]
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

    static func remoteGenerator(peers: [PeerAddress], options: SwarmClientOptions = fastFailover,
                                model: String = TestModel.path) throws -> (TextGenerator, RemoteBackend) {
        let host = try TestModel.host()
        let backend = try RemoteBackend(host: host, modelPath: model,
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

/// Self-signed certificates made with the openssl command, once per test process.
struct TestCertificates {
    let certificate: String
    let key: String

    nonisolated(unsafe) private static var cached: [String: TestCertificates] = [:]
    private static let lock = NSLock()

    /// A certificate for CN=`name` (IP 127.0.0.1), created on first use.
    static func shared(_ name: String = "petals-test") throws -> TestCertificates {
        try lock.withLock {
            if let existing = cached[name] { return existing }
            let directory = NSTemporaryDirectory() + "petals-tls-\(getpid())"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let made = TestCertificates(certificate: "\(directory)/\(name).crt", key: "\(directory)/\(name).key")
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                 "-keyout", made.key, "-out", made.certificate, "-days", "2", "-subj", "/CN=\(name)",
                                 "-addext", "subjectAltName=IP:127.0.0.1"]
            openssl.standardOutput = FileHandle.nullDevice
            openssl.standardError = FileHandle.nullDevice
            try openssl.run()
            openssl.waitUntilExit()
            guard openssl.terminationStatus == 0 else { throw XCTSkip("openssl could not make a test certificate") }
            cached[name] = made
            return made
        }
    }
}
