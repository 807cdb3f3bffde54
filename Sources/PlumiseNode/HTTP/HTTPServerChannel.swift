import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// The API's HTTP/1 server: Hummingbird's HTTP1Channel with one idle timeout that also bounds
/// how long a request's headers may take (a connection that has not delivered a complete head
/// within it is closed, however slowly its bytes trickle in), and requests that do not ask to
/// keep the connection alive (HTTP/1.0 without `Connection: keep-alive`, or `Connection:
/// close`) closed after their reply; a client that hangs up is noticed at once (HangUpDetector).
struct APIServerChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let base: HTTP1Channel

    init(responder: @escaping HTTPChannelHandler.Responder, idleTimeout: TimeAmount) {
        base = HTTP1Channel(responder: responder,
                            configuration: .init(additionalChannelHandlers: [HangUpDetector()], idleTimeout: idleTimeout))
    }

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        base.setup(channel: channel, logger: logger).flatMapThrowing { value in
            // Right after the HTTP/1 decoder, where the request's version is still known.
            let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try channel.pipeline.syncOperations.addHandler(CloseUnlessKeepAlive(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// ``APIServerChannel`` as a server for `Application`.
    static func api(idleTimeout: TimeAmount) -> HTTPServerBuilder {
        .init { responder in APIServerChannel(responder: responder, idleTimeout: idleTimeout) }
    }
}

/// Marks requests that do not keep the connection alive with `Connection: close`, which
/// Hummingbird honours by closing once the reply is written.
final class CloseUnlessKeepAlive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(var head) = unwrapInboundIn(data), !head.isKeepAlive else {
            context.fireChannelRead(data)
            return
        }
        head.headers.replaceOrAdd(name: "connection", value: "close")
        context.fireChannelRead(wrapInboundOut(.head(head)))
    }
}
