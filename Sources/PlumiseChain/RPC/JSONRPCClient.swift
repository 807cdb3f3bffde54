import AsyncHTTPClient
import Foundation
import NIOCore
import NIOFoundationCompat

/// Moves one JSON-RPC request body to a node and returns the response body.
public protocol JSONRPCTransport: Sendable {
    var endpoint: String { get }
    func send(_ body: Data) async throws -> Data
}

/// JSON-RPC over HTTP POST with async-http-client (the process-wide shared client).
public struct HTTPJSONRPCTransport: JSONRPCTransport {
    public let endpoint: String
    public let timeout: TimeAmount

    public init(url: String, timeoutSeconds: Double = 10) {
        endpoint = url
        timeout = .milliseconds(Int64(timeoutSeconds * 1000))
    }

    public func send(_ body: Data) async throws -> Data {
        var request = HTTPClientRequest(url: endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(data: body))
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: timeout)
        } catch {
            throw RPCError.network(url: endpoint, reason: networkErrorText(error))
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            throw RPCError.http(url: endpoint, status: Int(response.status.code))
        }
        do {
            return Data(buffer: try await response.body.collect(upTo: 16 << 20))
        } catch {
            throw RPCError.network(url: endpoint, reason: "reading the answer: \(networkErrorText(error))")
        }
    }
}

/// Typed JSON-RPC 2.0 calls.
public final class JSONRPCClient: Sendable {
    public let transport: JSONRPCTransport
    private let counter = RequestCounter()

    public init(transport: JSONRPCTransport) {
        self.transport = transport
    }

    public convenience init(url: String, timeoutSeconds: Double = 10) {
        self.init(transport: HTTPJSONRPCTransport(url: url, timeoutSeconds: timeoutSeconds))
    }

    private struct Request: Encodable {
        let jsonrpc = "2.0"
        let id: Int
        let method: String
        let params: [JSONValue]
    }

    private struct Response: Decodable {
        struct Failure: Decodable { let code: Int; let message: String }
        let result: JSONValue?
        let error: Failure?
    }

    /// The raw result of `method`; node errors become RPCError.node with the node's message.
    public func call(_ method: String, _ params: [JSONValue] = []) async throws -> JSONValue {
        let body = try JSONEncoder().encode(Request(id: counter.next(), method: method, params: params))
        let data = try await transport.send(body)
        let response: Response
        do {
            response = try JSONDecoder().decode(Response.self, from: data)
        } catch {
            throw RPCError.badResponse(method: method, reason: "not JSON-RPC: \(String(decoding: data.prefix(200), as: UTF8.self))")
        }
        if let failure = response.error { throw RPCError.node(method: method, code: failure.code, message: failure.message) }
        return response.result ?? .null
    }
}

/// Request ids, unique per client.
final class RequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int { lock.withLock { value += 1; return value } }
}
