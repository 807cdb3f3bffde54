import Foundation

/// Who answers GET /health: the agent address and the blocks this node serves, so the Plumise
/// inference gateway can classify it (plumise-inference-api node-router.service.ts:
/// `mode == "pipeline"` → /api/v1/generate, otherwise an OpenAI-style server) and plumise-agent's
/// health shape (api/server.py) holds: {status, model, mode, address, uptime, layers}.
public struct NodeIdentity: Sendable, Equatable {
    public var address: String
    /// The blocks this node serves, of `totalBlocks`.
    public var blocks: Range<Int>
    public var totalBlocks: Int
    public var startedAt: Date

    public init(address: String, blocks: Range<Int>, totalBlocks: Int, startedAt: Date = Date()) {
        self.address = address
        self.blocks = blocks
        self.totalBlocks = totalBlocks
        self.startedAt = startedAt
    }

    /// "single" when this node holds every block, "pipeline" when it serves a part of the model
    /// (plumise-agent's words).
    public var mode: String { blocks == 0..<totalBlocks ? "single" : "pipeline" }
}

struct HealthResponse: Encodable {
    struct Layers: Encodable {
        var start: Int
        var end: Int
        var total: Int
    }

    var status: String
    var model: String
    var mode: String?
    var address: String?
    var uptime: Int?
    var layers: Layers?

    init(status: String, model: String, identity: NodeIdentity?, now: Date = Date()) {
        self.status = status
        self.model = model
        guard let identity else { return }
        mode = identity.mode
        address = identity.address
        uptime = max(0, Int(now.timeIntervalSince(identity.startedAt)))
        layers = Layers(start: identity.blocks.lowerBound, end: identity.blocks.upperBound, total: identity.totalBlocks)
    }
}
