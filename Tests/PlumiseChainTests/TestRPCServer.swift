import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import PlumiseChain

/// A JSON-RPC node stand-in on 127.0.0.1 (a real HTTP server on an ephemeral port): answers
/// each method with what `handler` returns and records every request.
final class TestRPCServer: @unchecked Sendable {
    enum Answer {
        case result(JSONValue)
        case error(code: Int, message: String)
        case httpStatus(Int)
        case raw(String)
    }

    private let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    private var channel: Channel?
    private let lock = NSLock()
    private var handler: (String, [JSONValue]) -> Answer
    private(set) var requests: [(method: String, params: [JSONValue])] = []

    var url: String { "http://127.0.0.1:\(channel?.localAddress?.port ?? 0)" }

    init(handler: @escaping (String, [JSONValue]) -> Answer) throws {
        self.handler = handler
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(RPCHandler(server: self))
                }
            }
        channel = try bootstrap.bind(host: "127.0.0.1", port: 0).wait()
    }

    func stop() {
        try? channel?.close().wait()
        try? group.syncShutdownGracefully()
    }

    var recorded: [(method: String, params: [JSONValue])] { lock.withLock { requests } }

    /// The raw transactions sent with eth_sendRawTransaction, decoded.
    func sentTransactions() throws -> [SignedTransaction] {
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

private final class RPCHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let server: TestRPCServer
    private var body = Data()

    init(server: TestRPCServer) { self.server = server }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: body = Data()
        case .body(var buffer): body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            let (status, text) = server.answer(body)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: "\(text.utf8.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: text.utf8.count)
            buffer.writeString(text)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
