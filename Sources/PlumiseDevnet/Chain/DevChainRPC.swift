import BigInt
import PlumiseChain

/// The JSON-RPC methods of the dev chain: the `eth_` subset the node and wallets use, and
/// Plumise's `agent_` extensions.
public struct DevChainRPC: Sendable {
    public let state: DevChainState

    public init(state: DevChainState) { self.state = state }

    /// A JSON-RPC error: code and message.
    public struct Failure: Error, Equatable {
        public let code: Int
        public let message: String
    }

    /// The result of `method`, or a ``Failure``.
    public func handle(method: String, params: [JSONValue]) async throws -> JSONValue {
        do {
            return try await dispatch(method, Params(values: params))
        } catch let error as DevChainError {
            throw Failure(code: error.rpcCode, message: error.description)
        }
    }

    private func dispatch(_ method: String, _ p: Params) async throws -> JSONValue {
        switch method {
        case "eth_chainId": return quantity(state.config.chainID)
        case "net_version": return .string(String(state.config.chainID))
        case "eth_blockNumber": return quantity(try await state.blockNumber())
        case "eth_gasPrice": return .string(ChainRPC.quantity(state.config.gasPrice))
        case "eth_getBalance": return .string(ChainRPC.quantity(try await state.balance(of: try p.address(0))))
        case "eth_getTransactionCount": return quantity(try await state.nonce(of: try p.address(0)))
        case "eth_sendRawTransaction":
            guard let raw = Hex.decode(try p.string(0)), !raw.isEmpty else { throw DevChainError.invalidParams("expected 0x-hex transaction bytes") }
            return .string(try await state.sendRawTransaction(raw))
        case "eth_getTransactionReceipt":
            return try await state.receipt(of: try p.string(0)).map(Self.json) ?? .null
        case "eth_call":
            guard let call = p.values.first?.object, let toText = call["to"]?.string else {
                throw DevChainError.invalidParams("eth_call needs {to, data}")
            }
            let to = try Params.parseAddress(toText)
            guard let data = Hex.decode(call["data"]?.string ?? call["input"]?.string ?? "0x") else {
                throw DevChainError.invalidParams("data is not hex")
            }
            let from = try call["from"]?.string.map(Params.parseAddress)
            return .string(Hex.encode(try await state.call(from: from, to: to, data: data)))
        // (address, block): a one-parameter call is refused as the real chain refuses it
        // (plumise-contracts test/e2e/TEST_RESULTS.md "RPC Method Issues"). The devnet keeps no
        // history, so any block answers with the latest state.
        case "agent_isAgentAccount":
            try p.requireArguments(2)
            return .bool(try await state.agent(try p.address(0)) != nil)
        case "agent_getAgentMeta":
            try p.requireArguments(2)
            return try await state.agent(try p.address(0)).map(Self.meta) ?? .null
        case "agent_getStatus":
            try p.requireArguments(1)
            let address = try p.address(0)
            return try await status(address, try await state.agent(address))
        default:
            throw Failure(code: -32601, message: "the method \(method) does not exist on the devnet")
        }
    }

    private func quantity(_ n: Int) -> JSONValue { .string(ChainRPC.quantity(BigUInt(n))) }

    static func json(_ r: DevReceipt) -> JSONValue {
        var object: [String: JSONValue] = [
            "transactionHash": .string(r.transactionHash), "transactionIndex": .string("0x0"),
            "blockHash": .string(r.blockHash), "blockNumber": .string(ChainRPC.quantity(BigUInt(r.blockNumber))),
            "from": .string(r.from.lowercased), "to": r.to.map { .string($0.lowercased) } ?? .null,
            "gasUsed": .string(ChainRPC.quantity(BigUInt(r.gasUsed))),
            "cumulativeGasUsed": .string(ChainRPC.quantity(BigUInt(r.gasUsed))),
            "effectiveGasPrice": .string(ChainRPC.quantity(r.gasPrice)),
            "contractAddress": .null, "logs": .array([]), "type": .string("0x0"),
            "status": .string(r.succeeded ? "0x1" : "0x0"),
        ]
        if let reason = r.revertReason { object["revertReason"] = .string(reason) }
        return .object(object)
    }

    static func meta(_ a: AgentRecord) -> JSONValue {
        .object([
            "address": .string(a.address.lowercased), "name": .string(a.name), "modelHash": .string(Hex.encode(a.modelHash)),
            "capabilities": .array(a.capabilities.map { .string(Hex.encode($0)) }),
            "registeredAt": .string(ChainRPC.quantity(BigUInt(a.registeredAt))),
            "lastHeartbeat": .string(ChainRPC.quantity(BigUInt(a.lastHeartbeat))),
            "totalInferences": .number(Double(a.totalInferences)),
        ])
    }

    /// The real chain's shape (plumise-contracts test/e2e/TEST_RESULTS.md, "Agent State"):
    /// {address, registered, active, nodeId, lastHeartbeat, registeredAt, totalRewards, metadata},
    /// with no status word (that report lists it as missing).
    private func status(_ address: Address, _ agent: AgentRecord?) async throws -> JSONValue {
        let active = agent?.isActive(now: state.config.clock(), window: state.config.activeWindowSeconds) ?? false
        return AgentStatus(
            address: address.lowercased, registered: agent != nil, active: active, nodeID: "",
            lastHeartbeat: BigUInt(agent?.lastHeartbeat ?? 0), registeredAt: BigUInt(agent?.registeredAt ?? 0),
            totalRewards: try await state.claimedReward(of: address), metadata: agent?.name ?? ""
        ).json
    }
}

/// Positional JSON-RPC parameters with typed, error-reporting accessors.
struct Params {
    let values: [JSONValue]

    func string(_ i: Int) throws -> String {
        guard i < values.count, let s = values[i].string else { throw DevChainError.invalidParams("parameter \(i) must be a string") }
        return s
    }

    func address(_ i: Int) throws -> Address { try Self.parseAddress(try string(i)) }

    /// geth's positional-argument rule: exactly `count` arguments.
    func requireArguments(_ count: Int) throws {
        if values.count < count { throw DevChainError.missingArgument(values.count) }
        if values.count > count { throw DevChainError.invalidParams("too many arguments, want at most \(count)") }
    }

    static func parseAddress(_ text: String) throws -> Address {
        do { return try Address(text) } catch { throw DevChainError.invalidParams("\(error)") }
    }
}
