import BigInt
import Foundation
import PetalsTestSupport
import PlumiseChain
import PlumiseNode
import XCTest

final class NodeStatusTests: XCTestCase {
    private let wallet = try! Wallet(privateKey: "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f")

    func testStatusOfAnOnlineRegisteredAgent() async throws {
        let server = try TestRPCServer { method, params in
            switch method {
            case "eth_chainId": return .result(.string("0xa3e4"))
            case "eth_getBalance": return .result(.string("0x29a2241af62c0000")) // 3 PLM
            case "agent_isAgentAccount":
                guard params.count == 2 else { return .error(code: -32602, message: "missing value for required argument 1") }
                return .result(.bool(true))
            case "agent_getStatus":
                return .result(AgentStatus(address: params.first?.string ?? "", registered: true, active: true, lastHeartbeat: 1,
                                           registeredAt: 1).json)
            case "eth_call":
                let data = Hex.decode(params.first?["data"]?.string ?? "") ?? []
                if data.starts(with: ABI.selector("getContribution(address)")) {
                    return .result(.string(Hex.encode([5, 120, 80, 1].flatMap { ABI.word(.uint(BigUInt($0))) })))
                }
                if data.starts(with: ABI.selector("getCurrentEpoch()")) { return .result(.string(Hex.encode(ABI.word(.uint(4))))) }
                return .result(.string(Hex.encode(ABI.word(.uint(BigUInt(25) * BigUInt(10).power(16))))))
            default: return .error(code: -32601, message: "no")
            }
        }
        defer { server.stop() }
        let status = await NodeStatus.gather(wallet: wallet, rpc: ChainRPC(url: server.url), rewardPool: PlumiseAddresses.rewardPool,
                                             chainID: 41956)
        XCTAssertTrue(status.online)
        XCTAssertEqual(status.problems, [])
        let text = status.lines.joined(separator: "\n")
        for expected in ["Agent address    \(wallet.address)", "Online           yes", "Balance          3 PLM",
                         "Registered       yes", "Active           yes", "Pending reward   0.25 PLM", "Epoch            4",
                         "Tasks completed  5", "Uptime           120 s"] {
            XCTAssertTrue(text.contains(expected), "missing '\(expected)' in\n\(text)")
        }
    }

    func testAnUnreachableChainIsReportedOffline() async throws {
        let status = await NodeStatus.gather(wallet: wallet, rpc: ChainRPC(url: "http://127.0.0.1:1", timeoutSeconds: 1),
                                             rewardPool: PlumiseAddresses.rewardPool, chainID: 41956)
        XCTAssertFalse(status.online)
        XCTAssertTrue(status.lines.contains { $0.hasPrefix("Online") && $0.hasSuffix("no") })
        XCTAssertTrue(status.lines.contains { $0.contains("unreachable") })
    }

    func testTheStatusCommandExitsNonZeroWhenOffline() throws {
        let executable = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        var directory = executable
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        let binary = directory.appendingPathComponent("plumise-petals").path
        guard FileManager.default.isExecutableFile(atPath: binary) else { throw XCTSkip("\(binary) not built") }
        let envFile = NSTemporaryDirectory() + "petals-status-\(getpid()).env"
        try "# no settings\n".write(toFile: envFile, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["status", "--rpc-url", "http://127.0.0.1:1", "--timeout", "1",
                             "--env-file", envFile, "--private-key", "8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        XCTAssertEqual(process.terminationStatus, 1)
        XCTAssertTrue(text.contains("Online         no"), text)
        XCTAssertFalse(text.contains("8da4ef21"), text)
    }
}
