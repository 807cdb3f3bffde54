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
    public func send(to: Address, data: [UInt8], gas: Int) async throws -> TransactionReceipt {
        let nonce = try await rpc.pendingNonce(of: address)
        let gasPrice = try await rpc.gasPrice()
        let tx = LegacyTransaction(nonce: nonce, gasPrice: gasPrice, gasLimit: BigUInt(gas), to: to, data: data, chainID: chainID)
        let signed = try tx.signed(by: wallet)
        let hash = try await rpc.sendRawTransaction(signed.raw)
        logger.debug("sent \(hash) to \(to) (nonce \(nonce))")
        return try await rpc.waitForReceipt(of: hash, timeout: receiptTimeout, interval: pollInterval)
    }

    public enum Registration: Equatable, Sendable {
        case alreadyRegistered
        case registered(TransactionReceipt)
    }

    /// Registers through 0x21 unless agent_isAgentAccount says this address already is an agent.
    public func register(name: String, modelHash: [UInt8], capabilities: [[UInt8]] = []) async throws -> Registration {
        if try await rpc.isAgentAccount(address) { return .alreadyRegistered }
        let receipt = try await send(to: PlumiseAddresses.agentRegister,
                                     data: Self.registerPayload(name: name, modelHash: modelHash, capabilities: capabilities),
                                     gas: PlumiseAddresses.registerGas)
        guard receipt.succeeded else { throw AgentError.reverted("agent registration", receipt.transactionHash) }
        return .registered(receipt)
    }

    /// One heartbeat through 0x22 (empty data).
    public func heartbeat() async throws -> TransactionReceipt {
        let receipt = try await send(to: PlumiseAddresses.agentHeartbeat, data: [], gas: PlumiseAddresses.heartbeatGas)
        guard receipt.succeeded else { throw AgentError.reverted("heartbeat", receipt.transactionHash) }
        return receipt
    }

    /// Records `proof` on chain through 0x20.
    public func verifyInference(_ proof: InferenceProof) async throws -> TransactionReceipt {
        let receipt = try await send(to: PlumiseAddresses.verifyInference, data: proof.verifyPayload, gas: PlumiseAddresses.verifyGas)
        guard receipt.succeeded else { throw AgentError.reverted("verifyInference", receipt.transactionHash) }
        return receipt
    }
}

public enum AgentError: Error, CustomStringConvertible, Equatable {
    case reverted(String, String)

    public var description: String {
        switch self {
        case .reverted(let what, let hash): return "\(what) transaction \(hash) was mined but failed (status 0)"
        }
    }
}
