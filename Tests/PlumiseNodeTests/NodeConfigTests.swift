import Foundation
import PlumiseNode
import XCTest

/// Loading the node's settings: .env file < environment < flags, defaults, and validation
/// errors that name the setting without ever showing the key.
final class NodeConfigTests: XCTestCase {
    private let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("node-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: directory)
    }

    private func envFile(_ text: String) throws -> String {
        let path = directory.appendingPathComponent(".env").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func loadError(_ values: [String: String]) -> ConfigError? {
        do {
            _ = try NodeConfig.load(envFile: try envFile(""), environment: [:], flags: values)
            return nil
        } catch {
            return error as? ConfigError
        }
    }

    func testDefaultsAreTheDesignDefaults() throws {
        let config = try NodeConfig.load(envFile: try envFile(""), environment: [:])
        XCTAssertNil(config.privateKey)
        XCTAssertEqual(config.rpcURL, "http://localhost:26902")
        XCTAssertEqual(config.chainID, 41956)
        XCTAssertEqual(config.oracleURL, "http://localhost:15481")
        XCTAssertEqual(config.reportInterval, 60)
        XCTAssertEqual(config.petalsPort, 31330)
        XCTAssertEqual(config.apiPort, 31331)
        XCTAssertEqual(config.rewardPoolAddress, "0x0000000000000000000000000000000000001000")
        XCTAssertEqual(config.claimThresholdWei, "1000000000000000000")
        XCTAssertFalse(config.verifyOnChain)
        XCTAssertEqual(config.heartbeatInterval, 300)
    }

    func testFlagsWinOverTheEnvironmentWhichWinsOverTheFile() throws {
        let file = try envFile("""
            # settings of this node
            export REPORT_INTERVAL=20
            API_PORT="4000"
            PETALS_PORT='5000'
            ORACLE_API_URL=http://file.example:1 # trailing comment
            """)
        let config = try NodeConfig.load(envFile: file,
                                         environment: ["API_PORT": "4001", "PETALS_PORT": "5001", "UNRELATED": "x"],
                                         flags: ["PETALS_PORT": "5002"])
        XCTAssertEqual(config.reportInterval, 20)         // file only
        XCTAssertEqual(config.apiPort, 4001)              // environment over file
        XCTAssertEqual(config.petalsPort, 5002)           // flag over both
        XCTAssertEqual(config.oracleURL, "http://file.example:1")
    }

    func testDevNullIsAnEmptySettingsFile() throws {
        XCTAssertEqual(try NodeConfig.load(envFile: "/dev/null", environment: [:]), NodeConfig())
    }

    func testEmptyValuesFallBackToTheLowerLevel() throws {
        let config = try NodeConfig.load(envFile: try envFile("API_PORT=4000"), environment: ["API_PORT": ""])
        XCTAssertEqual(config.apiPort, 4000)
    }

    func testValidationErrorsNameTheSetting() {
        let cases: [(String, String)] = [
            ("REPORT_INTERVAL", "5"), ("REPORT_INTERVAL", "soon"), ("PETALS_PORT", "70000"), ("API_PORT", "-1"),
            ("PLUMISE_RPC_URL", "localhost:26902"), ("ORACLE_API_URL", "ftp://x"), ("PLUMISE_CHAIN_ID", "0"),
            ("AGENT_REGISTRY_ADDRESS", "0x1234"), ("REWARD_POOL_ADDRESS", "not an address"),
            ("CLAIM_THRESHOLD_WEI", "1e18"), ("VERIFY_ON_CHAIN", "maybe"), ("NUM_BLOCKS", "0"),
            ("PETALS_INITIAL_PEERS", "127.0.0.1"), ("PETALS_INITIAL_PEERS", "ftp://h:1"), ("DEVICE", "cuda"), ("HEARTBEAT_INTERVAL", "0"),
        ]
        for (setting, value) in cases {
            let error = loadError([setting: value])
            XCTAssertEqual(error?.setting, setting, "\(setting)=\(value)")
            XCTAssertTrue(error?.description.contains(setting) ?? false, "\(error.map(String.init(describing:)) ?? "no error")")
        }
    }

    func testPeersMayUseAnyTransportScheme() throws {
        let peers = "127.0.0.1:31330, tcp://10.0.0.2:1, tls://node.example:443, unix:///tmp/node.sock"
        let config = try NodeConfig.load(envFile: try envFile(""), environment: ["PETALS_INITIAL_PEERS": peers])
        XCTAssertEqual(config.initialPeers, ["127.0.0.1:31330", "tcp://10.0.0.2:1", "tls://node.example:443", "unix:///tmp/node.sock"])
    }

    func testUnknownFlagsAndMissingFilesAreErrors() throws {
        XCTAssertEqual(loadError(["NOT_A_SETTING": "1"]), .unknownSetting("NOT_A_SETTING"))
        XCTAssertThrowsError(try NodeConfig.load(envFile: directory.appendingPathComponent("absent.env").path,
                                                 environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("absent.env"), "\(error)")
        }
        XCTAssertThrowsError(try NodeConfig.load(envFile: try envFile("API_PORT 4000"), environment: [:])) { error in
            XCTAssertTrue("\(error)".contains(":1: malformed line"), "\(error)")
        }
    }

    func testTheKeyIsRequiredForServingAndNeverShown() throws {
        let missing = try NodeConfig.load(envFile: try envFile(""), environment: [:])
        XCTAssertThrowsError(try missing.requirePrivateKey()) { error in
            XCTAssertTrue("\(error)".contains("PLUMISE_PRIVATE_KEY"), "\(error)")
        }

        let config = try NodeConfig.load(envFile: try envFile("PLUMISE_PRIVATE_KEY=0x\(key)"), environment: [:])
        XCTAssertEqual(try config.requirePrivateKey().hex, key)
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped] {
            XCTAssertFalse(text.contains(key), "key leaked: \(text)")
            XCTAssertFalse(text.contains(String(key.prefix(16))), "key leaked: \(text)")
        }

        // A malformed key is rejected without echoing it.
        let badKey = String(key.dropLast()) + "z"
        let error = loadError(["PLUMISE_PRIVATE_KEY": badKey])
        XCTAssertEqual(error?.setting, "PLUMISE_PRIVATE_KEY")
        XCTAssertFalse(error?.description.contains(String(badKey.prefix(16))) ?? true)
    }
}
