/// Errors of the chain client. Messages never contain a private key.
public enum ChainError: Error, CustomStringConvertible, Equatable {
    case invalidPrivateKey(String)
    case invalidAddress(String)
    case invalidSignature(String)
    case malformedRLP(String)
    case malformedTransaction(String)
    case abi(String)

    public var description: String {
        switch self {
        case .invalidPrivateKey(let why): return "invalid private key: \(why)"
        case .invalidAddress(let why): return "invalid address: \(why)"
        case .invalidSignature(let why): return "invalid signature: \(why)"
        case .malformedRLP(let why): return "malformed RLP: \(why)"
        case .malformedTransaction(let why): return "malformed transaction: \(why)"
        case .abi(let why): return "ABI: \(why)"
        }
    }
}
