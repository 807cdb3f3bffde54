import Foundation
import Hummingbird
import PlumiseChain

/// The dev chain's JSON-RPC 2.0 endpoint: POST / with one request or a batch.
public struct DevChainRPCServer: Sendable {
    public let rpc: DevChainRPC

    public init(rpc: DevChainRPC) { self.rpc = rpc }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/") { request, _ -> Response in
            HTTPJSON.response(await self.answer(try await HTTPJSON.body(request)))
        }
        return router
    }

    /// Serves on `host:port`; a swift-service-lifecycle service.
    public func makeApplication(host: String = "127.0.0.1", port: Int,
                                onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in })
        -> Application<RouterResponder<BasicRequestContext>>
    {
        HTTPJSON.application(router: makeRouter(), host: host, port: port, name: "plumise-devnet-chain", onServerRunning: onServerRunning)
    }

    /// The answer to a request body: one response object, or an array for a batch.
    func answer(_ body: Data) async -> JSONValue {
        guard let request = try? JSONDecoder().decode(JSONValue.self, from: body) else {
            return Self.error(id: .null, code: -32700, message: "parse error: the body is not JSON")
        }
        if case .array(let batch) = request {
            var answers: [JSONValue] = []
            for item in batch { answers.append(await answerOne(item)) }
            return .array(answers)
        }
        return await answerOne(request)
    }

    private func answerOne(_ request: JSONValue) async -> JSONValue {
        let id = request["id"] ?? .null
        guard let method = request["method"]?.string else {
            return Self.error(id: id, code: -32600, message: "invalid request: no method")
        }
        let params: [JSONValue]
        switch request["params"] {
        case nil, .null?: params = []
        case .array(let list)?: params = list
        default: return Self.error(id: id, code: -32602, message: "invalid params: positional parameters expected")
        }
        do {
            let result = try await rpc.handle(method: method, params: params)
            return .object(["jsonrpc": .string("2.0"), "id": id, "result": result])
        } catch let failure as DevChainRPC.Failure {
            return Self.error(id: id, code: failure.code, message: failure.message)
        } catch {
            return Self.error(id: id, code: -32603, message: "internal error: \(error)")
        }
    }

    private static func error(id: JSONValue, code: Int, message: String) -> JSONValue {
        .object(["jsonrpc": .string("2.0"), "id": id,
                 "error": .object(["code": .number(Double(code)), "message": .string(message)])])
    }
}
