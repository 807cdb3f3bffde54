import PlumiseChain

/// Why the dev oracle refused a request; `status` is the HTTP status it answers with.
public enum OracleRejection: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case badSignature(String)
    case stale(timestamp: Int, now: Int)
    case replayed(timestamp: Int, last: Int)
    case unregistered(Address)
    case unknownNode(String)
    case chainUnavailable(String)
    case tooManyTokens(Int)

    public var status: Int {
        switch self {
        case .malformed, .replayed, .unknownNode, .tooManyTokens, .unregistered, .chainUnavailable: return 400
        case .badSignature, .stale: return 401
        }
    }

    public var description: String {
        switch self {
        case .malformed(let why): return "malformed request: \(why)"
        case .badSignature(let why): return "invalid signature: \(why)"
        case .stale(let timestamp, let now):
            return "timestamp \(timestamp) is \(abs(now - timestamp)) s from the oracle's clock (\(now)); the limit is \(ReportVerifier.windowSeconds) s"
        case .replayed(let timestamp, let last):
            return "replay detected: timestamp \(timestamp) is not greater than the last accepted \(last)"
        case .unregistered(let agent): return "agent \(agent) is not registered on chain"
        case .unknownNode(let why): return why
        case .chainUnavailable(let why): return "cannot reach the chain to check registration: \(why)"
        case .tooManyTokens(let n): return "tokensProcessed \(n) exceeds the oracle's bound of 1e9"
        }
    }

    /// What plumise-oracle answers in its error body for this refusal (its exact words; the
    /// detail above goes to the dev oracle's log).
    public var oracleMessage: String {
        switch self {
        case .malformed(let why): return why
        case .badSignature, .stale: return "Invalid signature"
        case .replayed: return "Replay detected: timestamp must be strictly increasing"
        // isAgentRegisteredOnChain answers false when the chain cannot be asked.
        case .unregistered, .chainUnavailable: return "Agent not registered on-chain"
        case .unknownNode(let why): return why
        case .tooManyTokens: return "Token count exceeds maximum allowed"
        }
    }
}

/// The checks plumise-oracle makes on a signed message before it stores anything: the
/// timestamp is within 60 s of the oracle's clock, the signature recovers to the claimed
/// address, and that address is an agent on chain. (Strictly increasing timestamps are checked
/// when the report is stored, atomically with the last accepted one.)
public struct ReportVerifier: Sendable {
    public static let windowSeconds = 60

    public let clock: @Sendable () -> Int
    /// agent_isAgentAccount on the chain.
    public let isRegistered: @Sendable (Address) async throws -> Bool

    public init(clock: @escaping @Sendable () -> Int, isRegistered: @escaping @Sendable (Address) async throws -> Bool) {
        self.clock = clock
        self.isRegistered = isRegistered
    }

    /// Verifies a metrics report (window and signature, then registration on chain) and
    /// returns its agent.
    public func verify(_ report: OracleReport) async throws -> Address {
        let agent = try verifySigned(address: report.wallet, timestamp: report.timestamp, signer: report.signer)
        try await requireRegistered(agent)
        return agent
    }

    /// The window and signature checks shared by every signed message; returns the signer.
    public func verifySigned(address: String, timestamp: Int, signer: () throws -> Address) throws -> Address {
        let claimed: Address
        do { claimed = try Address(address) } catch { throw OracleRejection.malformed("\(error)") }
        let now = clock()
        guard abs(now - timestamp) <= Self.windowSeconds else { throw OracleRejection.stale(timestamp: timestamp, now: now) }
        let recovered: Address
        do { recovered = try signer() } catch { throw OracleRejection.badSignature("\(error)") }
        guard recovered == claimed else {
            throw OracleRejection.badSignature("the signature is by \(recovered), not \(claimed)")
        }
        return claimed
    }

    public func requireRegistered(_ agent: Address) async throws {
        let registered: Bool
        do { registered = try await isRegistered(agent) } catch { throw OracleRejection.chainUnavailable("\(error)") }
        guard registered else { throw OracleRejection.unregistered(agent) }
    }
}
