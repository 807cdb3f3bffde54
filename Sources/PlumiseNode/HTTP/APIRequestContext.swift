import Hummingbird
import NIOCore

/// The request context of the node's API: Hummingbird's basic context plus the client's
/// connection, so a generation can stop as soon as its client goes away.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The connection the request came on.
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }
}

/// Closes a connection once its client has closed its side. Hummingbird allows half-closed
/// connections, so without this a client that hung up would look connected until the reply is
/// written, and its generation would run to the end for nobody. (A client that half-closes on
/// purpose after sending its request is treated as gone too.)
final class HangUpDetector: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .some(.inputClosed) = event as? ChannelEvent { context.close(promise: nil) }
        context.fireUserInboundEventTriggered(event)
    }
}
