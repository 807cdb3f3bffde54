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

    public var status: Int {
        switch self {
        case .malformed, .replayed, .unknownNode: return 400
        case .badSignature, .stale: return 401
        case .unregistered: return 403
        case .chainUnavailable: return 503
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

    /// Verifies a metrics report and returns its agent.
    public func verify(_ report: OracleReport) async throws -> Address {
        let agent = try verifySigned(address: report.wallet, timestamp: report.timestamp, signer: report.signer)
        for proof in report.proofs ?? [] where proof.agent != agent {
            throw OracleRejection.malformed("a proof names agent \(proof.agent), the report is from \(agent)")
        }
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
