import BigInt
import Foundation
import Logging

/// The node's identity on chain: registration (0x21), heartbeats (0x22) and optional
/// on-chain inference verification (0x20), each a signed legacy transaction.
public struct ChainAgent: Sendable {
    public let rpc: ChainRPC
    public let wallet: Wallet
    public let chainID: BigUInt
    public var receiptTimeout: Double = 60
    public var pollInterval: Double = 0.5
    private let logger: Logger

    public init(rpc: ChainRPC, wallet: Wallet, chainID: Int = PlumiseAddresses.chainID,
                logger: Logger = Logger(label: "plumise.chain")) {
        self.rpc = rpc
        self.wallet = wallet
        self.chainID = BigUInt(chainID)
        self.logger = logger
    }

    public var address: Address { wallet.address }

    /// `<model basename[:16]>-<last 8 hex digits of the address>`.
    public static func defaultName(modelName: String, address: Address) -> String {
        let base = (modelName as NSString).lastPathComponent
        return String(base.prefix(16)) + "-" + String(address.lowercased.suffix(8))
    }

    /// name (UTF-8, cut to 32 bytes, zero-padded) ‖ modelHash ‖ capability count ‖ capabilities.
    public static func registerPayload(name: String, modelHash: [UInt8], capabilities: [[UInt8]]) -> [UInt8] {
        let nameBytes = Array(name.utf8.prefix(32))
        return ABI.word(.bytes32(nameBytes)) + ABI.word(.bytes32(modelHash)) + ABI.word(.uint(BigUInt(capabilities.count)))
            + capabilities.flatMap { ABI.word(.bytes32(Array($0.prefix(32)))) }
    }

    /// Signs and sends a transaction with the pending nonce and the node's gas price, then
    /// waits for its receipt.
    /// Transactions of one account go out one at a time (heartbeats, claims, proofs and the
    /// oracle's sponsored calls run concurrently), so two never take the same nonce.
    public func send(to: Address, data: [UInt8], gas: Int) async throws -> TransactionReceipt {
        try await AccountQueue.queue(for: address).run { [self] in
            let nonce = try await rpc.pendingNonce(of: address)
            let gasPrice = try await rpc.gasPrice()
            let tx = LegacyTransaction(nonce: nonce, gasPrice: gasPrice, gasLimit: BigUInt(gas), to: to, data: data, chainID: chainID)
            let signed = try tx.signed(by: wallet)
            let hash = try await rpc.sendRawTransaction(signed.raw)
            logger.debug("sent \(hash) to \(to) (nonce \(nonce))")
            return try await rpc.waitForReceipt(of: hash, timeout: receiptTimeout, interval: pollInterval)
        }
    }

    public enum Registration: Equatable, Sendable {
        case alreadyRegistered
        case registered(TransactionReceipt)
    }

    /// Registers through 0x21 unless agent_isAgentAccount says this address already is an agent.
    public func register(name: String, modelHash: [UInt8], capabilities: [[UInt8]] = []) async throws -> Registration {
        if try await rpc.isAgentAccount(address) { return .alreadyRegistered }
        let receipt = try await sendExpectingSuccess(
            "agent registration", to: PlumiseAddresses.agentRegister,
            data: Self.registerPayload(name: name, modelHash: modelHash, capabilities: capabilities),
            gas: PlumiseAddresses.registerGas)
        return .registered(receipt)
    }

    /// Why a transaction of `data` to `to` fails, as the chain says when the call is replayed
    /// with eth_call from this agent ("execution reverted: No rewards"); nil when the replay
    /// succeeds now or the chain gives no reason.
    public func revertReason(to: Address, data: [UInt8]) async -> String? {
        do {
            _ = try await rpc.call(from: address, to: to, data: data)
            return nil
        } catch RPCError.node(_, _, let message) {
            return message
        } catch {
            return nil
        }
    }

    /// Sends a transaction and throws ``AgentError/reverted(_:_:reason:)`` with the chain's
    /// reason when it is mined but fails.
    public func sendExpectingSuccess(_ what: String, to: Address, data: [UInt8], gas: Int) async throws -> TransactionReceipt {
        let receipt = try await send(to: to, data: data, gas: gas)
        guard receipt.succeeded else {
            throw AgentError.reverted(what, receipt.transactionHash, reason: await revertReason(to: to, data: data))
        }
        return receipt
    }

    /// One heartbeat through 0x22 (empty data).
    public func heartbeat() async throws -> TransactionReceipt {
        try await sendExpectingSuccess("heartbeat", to: PlumiseAddresses.agentHeartbeat, data: [],
                                       gas: PlumiseAddresses.heartbeatGas)
    }

    /// Records `proof` on chain through 0x20.
    public func verifyInference(_ proof: InferenceProof) async throws -> TransactionReceipt {
        try await sendExpectingSuccess("verifyInference", to: PlumiseAddresses.verifyInference, data: proof.verifyPayload,
                                       gas: PlumiseAddresses.verifyGas)
    }
}

public enum AgentError: Error, CustomStringConvertible, Equatable {
    /// A transaction (what, hash) was mined with status 0; `reason` as the chain gives it.
    case reverted(String, String, reason: String?)

    public var description: String {
        switch self {
        case .reverted(let what, let hash, let reason):
            return "\(what) transaction \(hash) was mined but failed (status 0)" + (reason.map { ": \($0)" } ?? "")
        }
    }
}

/// One queue of transactions per sending account in this process.
actor AccountQueue {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var queues: [Address: AccountQueue] = [:]

    static func queue(for address: Address) -> AccountQueue {
        lock.withLock {
            if let queue = queues[address] { return queue }
            let queue = AccountQueue()
            queues[address] = queue
            return queue
        }
    }

    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    /// Runs `body` after every earlier body of this account has finished.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        }
        busy = true
        defer {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
        return try await body()
    }
}
