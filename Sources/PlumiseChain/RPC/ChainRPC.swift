import BigInt
import Foundation

/// A transaction receipt: what the node says happened to a mined transaction.
public struct TransactionReceipt: Equatable, Sendable {
    public let transactionHash: String
    public let blockNumber: BigUInt
    /// true when the transaction succeeded (status 0x1).
    public let succeeded: Bool
    public let gasUsed: BigUInt
}

/// The chain methods the node uses, typed.
public struct ChainRPC: Sendable {
    public let client: JSONRPCClient

    public init(client: JSONRPCClient) { self.client = client }
    public init(url: String, timeoutSeconds: Double = 10) { client = JSONRPCClient(url: url, timeoutSeconds: timeoutSeconds) }

    public var endpoint: String { client.transport.endpoint }

    private func quantity(_ method: String, _ params: [JSONValue] = []) async throws -> BigUInt {
        let result = try await client.call(method, params)
        guard let text = result.string, let value = Self.parseQuantity(text) else {
            throw RPCError.badResponse(method: method, reason: "expected a hex quantity, got \(result)")
        }
        return value
    }

    /// "0x1a" → 26.
    public static func parseQuantity(_ text: String) -> BigUInt? {
        guard text.hasPrefix("0x") else { return nil }
        let digits = text.dropFirst(2)
        return digits.isEmpty ? nil : BigUInt(String(digits), radix: 16)
    }

    public static func quantity(_ value: BigUInt) -> String { "0x" + String(value, radix: 16) }

    public func chainID() async throws -> BigUInt { try await quantity("eth_chainId") }
    public func blockNumber() async throws -> BigUInt { try await quantity("eth_blockNumber") }
    public func balance(of address: Address) async throws -> BigUInt {
        try await quantity("eth_getBalance", [.string(address.description), .string("latest")])
    }
    /// The next nonce, counting transactions still pending.
    public func pendingNonce(of address: Address) async throws -> BigUInt {
        try await quantity("eth_getTransactionCount", [.string(address.description), .string("pending")])
    }
    public func gasPrice() async throws -> BigUInt { try await quantity("eth_gasPrice") }

    /// Sends a signed transaction; returns its hash as the node reports it.
    public func sendRawTransaction(_ raw: [UInt8]) async throws -> String {
        let result = try await client.call("eth_sendRawTransaction", [.string(Hex.encode(raw))])
        guard let hash = result.string else { throw RPCError.badResponse(method: "eth_sendRawTransaction", reason: "\(result)") }
        return hash
    }

    /// The receipt of `hash`, or nil while it is not mined.
    public func receipt(of hash: String) async throws -> TransactionReceipt? {
        let result = try await client.call("eth_getTransactionReceipt", [.string(hash)])
        if result == .null { return nil }
        guard let status = result["status"]?.string.flatMap(Self.parseQuantity),
              let block = result["blockNumber"]?.string.flatMap(Self.parseQuantity) else {
            throw RPCError.badResponse(method: "eth_getTransactionReceipt", reason: "\(result)")
        }
        let gas = result["gasUsed"]?.string.flatMap(Self.parseQuantity) ?? 0
        return TransactionReceipt(transactionHash: hash, blockNumber: block, succeeded: status == 1, gasUsed: gas)
    }

    /// Polls for the receipt of `hash` every `interval` seconds until `timeout`.
    public func waitForReceipt(of hash: String, timeout: Double = 60, interval: Double = 1) async throws -> TransactionReceipt {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let receipt = try await receipt(of: hash) { return receipt }
            guard Date() < deadline else { throw RPCError.receiptTimeout(hash: hash, seconds: timeout) }
            try await Task.sleep(nanoseconds: UInt64(interval * 1e9))
        }
    }

    /// eth_call of `data` on `to` at the latest block, as sent by `from` when given.
    public func call(from: Address? = nil, to: Address, data: [UInt8]) async throws -> [UInt8] {
        var request: [String: JSONValue] = ["to": .string(to.description), "data": .string(Hex.encode(data))]
        if let from { request["from"] = .string(from.description) }
        let result = try await client.call("eth_call", [.object(request), .string("latest")])
        guard let text = result.string, let bytes = Hex.decode(text) else {
            throw RPCError.badResponse(method: "eth_call", reason: "expected hex data, got \(result)")
        }
        return bytes
    }

    // MARK: Plumise extensions

    // The real chain takes (address, block) for these two and answers a one-parameter call with
    // "missing value for required argument 1" (plumise-contracts test/e2e/TEST_RESULTS.md, "RPC
    // Method Issues"); every plumise-oracle caller passes [address, "latest"] (nodes.service.ts,
    // pipeline.service.ts, chain.service.ts).

    public func isAgentAccount(_ address: Address, block: String = "latest") async throws -> Bool {
        let result = try await client.call("agent_isAgentAccount", [.string(address.description), .string(block)])
        guard let value = result.bool else { throw RPCError.badResponse(method: "agent_isAgentAccount", reason: "\(result)") }
        return value
    }

    public func agentMeta(_ address: Address, block: String = "latest") async throws -> JSONValue {
        try await client.call("agent_getAgentMeta", [.string(address.description), .string(block)])
    }

    /// agent_getStatus takes the address alone (TEST_RESULTS.md: "agent_getStatus(address) works").
    public func agentStatus(_ address: Address) async throws -> AgentStatus {
        let result = try await client.call("agent_getStatus", [.string(address.description)])
        guard let status = AgentStatus(json: result) else {
            throw RPCError.badResponse(method: "agent_getStatus", reason: "\(result)")
        }
        return status
    }
}

/// agent_getStatus's answer, as the real chain gives it (plumise-contracts
/// test/e2e/TEST_RESULTS.md): {address, registered, active, nodeId, lastHeartbeat (hex),
/// registeredAt (hex), totalRewards (hex wei), metadata}.
public struct AgentStatus: Equatable, Sendable {
    public var address: String
    public var registered: Bool
    public var active: Bool
    public var nodeID: String
    public var lastHeartbeat: BigUInt
    public var registeredAt: BigUInt
    public var totalRewards: BigUInt
    public var metadata: String

    public init(address: String, registered: Bool, active: Bool, nodeID: String = "", lastHeartbeat: BigUInt,
                registeredAt: BigUInt, totalRewards: BigUInt = 0, metadata: String = "") {
        self.address = address
        self.registered = registered
        self.active = active
        self.nodeID = nodeID
        self.lastHeartbeat = lastHeartbeat
        self.registeredAt = registeredAt
        self.totalRewards = totalRewards
        self.metadata = metadata
    }

    /// Reads the chain's JSON; quantities are hex strings ("0x0"). Nil when a field is missing.
    public init?(json: JSONValue) {
        func quantity(_ key: String) -> BigUInt? { json[key]?.string.flatMap(ChainRPC.parseQuantity) }
        guard let address = json["address"]?.string, let registered = json["registered"]?.bool,
              let active = json["active"]?.bool, let lastHeartbeat = quantity("lastHeartbeat"),
              let registeredAt = quantity("registeredAt") else { return nil }
        self.init(address: address, registered: registered, active: active, nodeID: json["nodeId"]?.string ?? "",
                  lastHeartbeat: lastHeartbeat, registeredAt: registeredAt, totalRewards: quantity("totalRewards") ?? 0,
                  metadata: json["metadata"]?.string ?? "")
    }

    /// The chain's JSON form.
    public var json: JSONValue {
        .object(["address": .string(address), "registered": .bool(registered), "active": .bool(active),
                 "nodeId": .string(nodeID), "lastHeartbeat": .string(ChainRPC.quantity(lastHeartbeat)),
                 "registeredAt": .string(ChainRPC.quantity(registeredAt)),
                 "totalRewards": .string(ChainRPC.quantity(totalRewards)), "metadata": .string(metadata)])
    }
}
