import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat
import PlumiseChain

/// The pipeline endpoints of a plumise-oracle (the dev oracle included), as a node operator
/// uses them: register a node, mark it ready, read a model's topology.
public struct PipelineClient: Sendable {
    public let baseURL: String

    public init(oracleURL: String) {
        var base = oracleURL
        while base.hasSuffix("/") { base.removeLast() }
        baseURL = base
    }

    /// The oracle's answer to a registration: the layers assigned so far.
    public struct Assignment: Decodable, Equatable, Sendable {
        public let layerStart: Int
        public let layerEnd: Int
        public let totalLayers: Int
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        case refused(status: Int, message: String)
        public var description: String {
            switch self {
            case .refused(let status, let message): return "the oracle refused the request (HTTP \(status)): \(message)"
            }
        }
    }

    public func register(_ registration: PipelineRegistration) async throws -> Assignment {
        try await send("/api/v1/pipeline/register", body: registration, as: Assignment.self)
    }

    public func ready(_ ready: PipelineReady) async throws {
        struct Ack: Decodable { let success: Bool }
        _ = try await send("/api/v1/pipeline/ready", body: ready, as: Ack.self)
    }

    public func topology(model: String) async throws -> [PipelineAssignment] {
        struct Topology: Decodable { let nodes: [PipelineAssignment] }
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
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let data = Data(buffer: try await response.body.collect(upTo: 4 << 20))
        guard (200..<300).contains(Int(response.status.code)) else {
            let message = (try? JSONDecoder().decode(Message.self, from: data))?.message ?? String(decoding: data.prefix(200), as: UTF8.self)
            throw Failure.refused(status: Int(response.status.code), message: message)
        }
        return try JSONDecoder().decode(Answer.self, from: data)
    }

    private struct Message: Decodable { let message: String }
}
