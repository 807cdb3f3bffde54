import Foundation
import Logging
import PlumiseChain

/// Makes the node findable on the Plumise network, as the ecosystem's nodes do:
/// - POST /api/nodes/register with the public HTTP endpoint and capabilities
///   ["inference", <model id>], every 5 minutes (plumise-agent-app), which is what the inference
///   gateway discovers (plumise-inference-api node-router.service.ts reads GET /api/nodes and
///   skips nodes without an endpoint); the oracle also sponsors the on-chain registration of an
///   agent without PLM at this point (nodes.service.ts registerNode);
/// - POST /api/v1/pipeline/register with the shard endpoint (an http URL: the DTO takes nothing
///   else) and this machine's memory, then /api/v1/pipeline/ready (plumise-agent
///   node/registry.py), again whenever the topology no longer lists this node as ready (the
///   oracle drops entries idle for 10 minutes and a re-registration clears `ready`).
/// Refusals are logged with the oracle's message; nothing here stops the node.
public final class OracleAnnouncer: Sendable {
    public struct Endpoints: Sendable, Equatable {
        /// The HTTP API as the gateway reaches it.
        public var publicURL: String
        /// The shard server as an http URL (host and port of the swarm transport).
        public var shardURL: String
    }

    let client: OracleClient
    let wallet: Wallet
    let modelID: String
    let ramMb: Int
    let logger: Logger
    private let lastTimestamp = LockedValue(0)

    public init(oracleURL: String, wallet: Wallet, modelID: String, ramMb: Int, logger: Logger) {
        client = OracleClient(oracleURL: oracleURL)
        self.wallet = wallet
        self.modelID = modelID
        self.ramMb = ramMb
        self.logger = logger
    }

    /// The capabilities plumise-agent-app announces; the oracle's topology lists a standalone
    /// node under a model when one capability is exactly the model id (pipeline.service.ts).
    public var capabilities: [String] { ["inference", modelID] }

    /// Each signed message's timestamp strictly increases (the oracle's replay guards).
    private func timestamp() -> Int {
        lastTimestamp.update { last in
            let next = max(Int(Date().timeIntervalSince1970), last + 1)
            last = next
            return next
        }
    }

    public func registerNode(_ endpoints: Endpoints) async throws {
        try await client.registerNode(try NodeRegistration.signed(by: wallet, endpoint: endpoints.publicURL,
                                                                  capabilities: capabilities, timestamp: timestamp()))
    }

    /// Registers in the model's pipeline and marks this node ready; returns the oracle's
    /// assignment (advisory: the node serves the blocks it was started with).
    @discardableResult
    public func joinPipeline(_ endpoints: Endpoints) async throws -> OracleClient.Assignment {
        let assignment = try await client.register(try PipelineRegistration.signed(
            by: wallet, grpcEndpoint: endpoints.shardURL, httpEndpoint: endpoints.publicURL, model: modelID, ramMb: ramMb,
            device: "cpu", vramMb: 0, timestamp: timestamp()))
        try await client.ready(try PipelineReady.signed(by: wallet, model: modelID, timestamp: timestamp()))
        return assignment
    }

    /// Whether the model's topology lists this node as ready.
    public func isListedReady() async throws -> Bool {
        let me = wallet.address.lowercased
        return try await client.topology(model: modelID).contains { $0.nodeAddress.lowercased() == me && $0.ready }
    }

    /// Announces at once, then every `interval` seconds until cancelled.
    public func run(_ endpoints: Endpoints, interval: Double = NodeRegistration.reregisterInterval) async {
        if Self.isLoopback(endpoints.publicURL) {
            logger.warning("announcing \(endpoints.publicURL): the Plumise gateway refuses loopback URLs; set PUBLIC_URL or PETALS_ANNOUNCE_IP")
        }
        var joined = false
        while !Task.isCancelled {
            do {
                try await registerNode(endpoints)
                logger.info("oracle lists this node at \(endpoints.publicURL) for \(modelID)")
            } catch {
                logger.warning("oracle node registration failed: \(error)")
            }
            do {
                let listed = joined ? try await isListedReady() : false
                if !listed {
                    let a = try await joinPipeline(endpoints)
                    joined = true
                    logger.info("pipeline: registered and ready for \(modelID) (oracle assigns layers \(a.layerStart)..<\(a.layerEnd) of \(a.totalLayers))")
                }
            } catch {
                logger.warning("oracle pipeline registration failed: \(error)")
            }
            do { try await Task.sleep(nanoseconds: UInt64(interval * 1e9)) } catch { return }
        }
    }

    /// The hosts plumise-inference-api's isValidNodeUrl refuses.
    public static func isLoopback(_ url: String) -> Bool {
        guard let host = URL(string: url)?.host?.lowercased() else { return false }
        return ["localhost", "127.0.0.1", "0.0.0.0", "::1", "::", "[::1]"].contains(host) || host.hasPrefix("127.")
    }
}
