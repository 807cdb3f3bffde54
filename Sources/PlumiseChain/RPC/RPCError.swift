/// Failures talking to a chain node. Network trouble is retryable; what the node says is not.
public enum RPCError: Error, CustomStringConvertible, Equatable {
    /// No answer: connection refused, DNS, reset, timeout of the HTTP request.
    case network(url: String, reason: String)
    /// The HTTP layer answered with a non-2xx status.
    case http(url: String, status: Int)
    /// The node answered with a JSON-RPC error object.
    case node(method: String, code: Int, message: String)
    /// The answer is not the JSON-RPC we expect.
    case badResponse(method: String, reason: String)
    /// A transaction was sent but no receipt arrived in time.
    case receiptTimeout(hash: String, seconds: Double)

    public var isRetryable: Bool {
        switch self {
        case .network, .receiptTimeout: return true
        case .http(_, let status): return status >= 500 || status == 429
        case .node, .badResponse: return false
        }
    }

    public var description: String {
        switch self {
        case .network(let url, let reason): return "chain node \(url) unreachable: \(reason)"
        case .http(let url, let status): return "chain node \(url) answered HTTP \(status)"
        case .node(let method, let code, let message): return "\(method) failed on the chain node: \(message) (code \(code))"
        case .badResponse(let method, let reason): return "\(method): unexpected answer: \(reason)"
        case .receiptTimeout(let hash, let seconds): return "no receipt for \(hash) after \(seconds) s"
        }
    }
}
