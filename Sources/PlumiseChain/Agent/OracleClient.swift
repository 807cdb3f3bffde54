import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// The node-facing endpoints of a plumise-oracle (the dev oracle included): node registration
/// (what the inference gateway discovers), pipeline registration and readiness, and a model's
/// topology.
public struct OracleClient: Sendable {
    public let baseURL: String
    public var timeoutSeconds: Int64 = 10

    public init(oracleURL: String) {
        var base = oracleURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
    }

    /// The oracle's answer to a pipeline registration: the layers it assigns (of the layer
    /// count it knows for the model: plumise-oracle's MODEL_LAYERS, 32 for models it does not
    /// know).
    public struct Assignment: Decodable, Equatable, Sendable {
        public let layerStart: Int
        public let layerEnd: Int
        public let totalLayers: Int

        public init(layerStart: Int, layerEnd: Int, totalLayers: Int) {
            self.layerStart = layerStart
            self.layerEnd = layerEnd
            self.totalLayers = totalLayers
        }

        /// The assignment scaled to a model of `blocks` blocks (the oracle may count another
        /// number of layers for it).
        public func scaled(toBlocks blocks: Int) -> Range<Int> {
            guard totalLayers > 0 else { return 0..<blocks }
            func scale(_ layer: Int) -> Int { min(blocks, max(0, Int((Double(layer) * Double(blocks) / Double(totalLayers)).rounded()))) }
            let start = scale(layerStart), end = scale(layerEnd)
            return start..<max(start, end)
        }
    }

    /// A node of a model's topology as plumise-oracle answers it: the pipeline_assignments row
    /// (ramMb/vramMb are bigint columns, sent as strings; dates are ISO strings) or a standalone
    /// node (grpcEndpoint "standalone://…").
    public struct TopologyNode: Decodable, Equatable, Sendable {
        public let nodeAddress: String
        public let modelName: String
        public let layerStart: Int
        public let layerEnd: Int
        public let totalLayers: Int
        public let grpcEndpoint: String
        public let httpEndpoint: String
        public let ready: Bool
        public let pipelineOrder: Int
        public let ramMb: Int?

        enum CodingKeys: String, CodingKey {
            case nodeAddress, modelName, layerStart, layerEnd, totalLayers, grpcEndpoint, httpEndpoint, ready, pipelineOrder, ramMb
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            nodeAddress = try c.decode(String.self, forKey: .nodeAddress)
            modelName = try c.decode(String.self, forKey: .modelName)
            layerStart = try Self.integer(c, .layerStart) ?? 0
            layerEnd = try Self.integer(c, .layerEnd) ?? 0
            totalLayers = try Self.integer(c, .totalLayers) ?? 0
            grpcEndpoint = try c.decodeIfPresent(String.self, forKey: .grpcEndpoint) ?? ""
            httpEndpoint = try c.decodeIfPresent(String.self, forKey: .httpEndpoint) ?? ""
            ready = try c.decodeIfPresent(Bool.self, forKey: .ready) ?? false
            pipelineOrder = try Self.integer(c, .pipelineOrder) ?? 0
            ramMb = try Self.integer(c, .ramMb)
        }

        /// A number, or a string holding one (MySQL bigint columns reach JSON as strings).
        static func integer(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> Int? {
            if let n = try? c.decodeIfPresent(Int.self, forKey: key) { return n }
            if let d = try? c.decodeIfPresent(Double.self, forKey: key) { return Int(d) }
            if let s = try? c.decodeIfPresent(String.self, forKey: key) { return Int(s) }
            return nil
        }
    }

    /// A node of GET /api/nodes.
    public struct ListedNode: Decodable, Equatable, Sendable {
        public let address: String
        public let endpoint: String
        public let status: String
        public let capabilities: [String]

        public init(address: String, endpoint: String, status: String, capabilities: [String]) {
            self.address = address
            self.endpoint = endpoint
            self.status = status
            self.capabilities = capabilities
        }
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case refused(status: Int, message: String)
        public var description: String {
            switch self {
            case .refused(let status, let message): return "the oracle refused the request (HTTP \(status)): \(message)"
            }
        }
        /// 4xx: the request itself is wrong (sending it again changes nothing).
        public var isClientError: Bool {
            switch self {
            case .refused(let status, _): return (400..<500).contains(status)
            }
        }
    }

    public func registerNode(_ registration: NodeRegistration) async throws {
        struct Ack: Decodable { let success: Bool }
        _ = try await send("/api/nodes/register", body: registration, as: Ack.self)
    }

    public func nodes() async throws -> [ListedNode] {
        struct List: Decodable { let nodes: [ListedNode] }
        return try await send("/api/nodes", body: Optional<String>.none, as: List.self).nodes
    }

    public func register(_ registration: PipelineRegistration) async throws -> Assignment {
        try await send("/api/v1/pipeline/register", body: registration, as: Assignment.self)
    }

    public func ready(_ ready: PipelineReady) async throws {
        struct Ack: Decodable { let success: Bool }
        _ = try await send("/api/v1/pipeline/ready", body: ready, as: Ack.self)
    }

    public func topology(model: String) async throws -> [TopologyNode] {
        struct Topology: Decodable { let nodes: [TopologyNode] }
        var components = URLComponents()
        components.queryItems = [URLQueryItem(name: "model", value: model)]
        let query = components.percentEncodedQuery ?? ""
        return try await send("/api/v1/pipeline/topology?" + query, body: Optional<String>.none, as: Topology.self).nodes
    }

    private func send<Body: Encodable, Answer: Decodable>(_ path: String, body: Body?, as: Answer.Type) async throws -> Answer {
        var request = HTTPClientRequest(url: baseURL + path)
        if let body {
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: try JSONEncoder().encode(body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(timeoutSeconds))
        let data = Data(buffer: try await response.body.collect(upTo: 4 << 20))
        guard (200..<300).contains(Int(response.status.code)) else {
            throw Failure.refused(status: Int(response.status.code), message: Self.message(data))
        }
        return try JSONDecoder().decode(Answer.self, from: data)
    }

    /// NestJS's error `message`: one string or a list of validation messages.
    static func message(_ data: Data) -> String {
        struct One: Decodable { let message: String }
        struct Many: Decodable { let message: [String] }
        if let one = try? JSONDecoder().decode(One.self, from: data) { return one.message }
        if let many = try? JSONDecoder().decode(Many.self, from: data) { return many.message.joined(separator: "; ") }
        return String(decoding: data.prefix(200), as: UTF8.self)
    }
}
