import Foundation
import PetalsSwarm
import PetalsTestSupport

/// A real `plumise-petals serve --shard-only` process; killed on deinit.
final class ServerProcess {
    let cli: CLIProcess
    let address: PeerAddress
    var process: Process { cli.process }

    /// Starts the shard server of `model` with `arguments` and waits for its "ready <address>" line.
    init(_ arguments: [String], model: String = TestModel.path, timeout: Double = 60) throws {
        cli = try CLIProcess(["serve", "--shard-only", "--watch-pid", "\(getpid())", "--model", model,
                              "--threads", "1"] + arguments)
        address = try PeerAddress(parsing: try cli.waitUntilReady(timeout: timeout))
    }

    func kill(_ signal: Int32) { cli.kill(signal) }

    func waitForExit(timeout: Double = 20) -> Int32? { cli.waitForExit(timeout: timeout) }
}
