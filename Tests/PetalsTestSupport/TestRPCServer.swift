import Foundation
import NIOHTTP1
import PetalsTestSupport
import PlumiseChain

/// A JSON-RPC node stand-in on 127.0.0.1 (a real HTTP server on an ephemeral port): answers
/// each method with what `handler` returns and records every request.
public final class TestRPCServer: @unchecked Sendable {
    public enum Answer {
        case result(JSONValue)
        case error(code: Int, message: String)
        case httpStatus(Int)
        case raw(String)
    }

    private var http: TestHTTPServer!
    private let lock = NSLock()
    private var handler: (String, [JSONValue]) -> Answer
    private var requests: [(method: String, params: [JSONValue])] = []

    public var url: String { http.url }

    public init(handler: @escaping (String, [JSONValue]) -> Answer) throws {
        self.handler = handler
        http = try TestHTTPServer { [unowned self] request in
            let (status, body) = self.answer(request.body)
            return (Int(status.code), body)
        }
    }

    public func stop() { http.stop() }

    public var recorded: [(method: String, params: [JSONValue])] { lock.withLock { requests } }

    /// The raw transactions sent with eth_sendRawTransaction, decoded.
    public func sentTransactions() throws -> [SignedTransaction] {
        try recorded.filter { $0.method == "eth_sendRawTransaction" }.map {
            try SignedTransaction.decode(raw: Hex.decode($0.params.first?.string ?? "") ?? [])
        }
    }

    fileprivate func answer(_ body: Data) -> (HTTPResponseStatus, String) {
        struct Request: Decodable { let id: Int; let method: String; let params: [JSONValue]? }
        guard let request = try? JSONDecoder().decode(Request.self, from: body) else { return (.badRequest, "bad request") }
        let params = request.params ?? []
        let answer: Answer = lock.withLock {
            requests.append((request.method, params))
            return handler(request.method, params)
        }
        func encode(_ object: [String: JSONValue]) -> String {
            String(decoding: (try? JSONEncoder().encode(object)) ?? Data(), as: UTF8.self)
        }
        switch answer {
        case .result(let value):
            return (.ok, encode(["jsonrpc": .string("2.0"), "id": .number(Double(request.id)), "result": value]))
        case .error(let code, let message):
            return (.ok, encode(["jsonrpc": .string("2.0"), "id": .number(Double(request.id)),
                                 "error": .object(["code": .number(Double(code)), "message": .string(message)])]))
        case .httpStatus(let status):
            return (HTTPResponseStatus(statusCode: status), "{}")
        case .raw(let text):
            return (.ok, text)
        }
    }
}

