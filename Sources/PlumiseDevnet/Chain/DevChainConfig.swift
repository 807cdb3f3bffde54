import BigInt
import Foundation
import PlumiseChain

/// What the dev chain is: its id, gas price, genesis allocations, epochs and rewards.
public struct DevChainConfig: Sendable {
    public var chainID = PlumiseAddresses.chainID
    /// What eth_gasPrice answers (1 gwei).
    public var gasPrice = BigUInt(1_000_000_000)
    /// Accounts funded at genesis with `fundedBalance` each.
    public var fundedAccounts: [Address] = DevAccounts.accounts().map(\.address) + [DevAccounts.oracle.address]
    public var fundedBalance = DevAccounts.fundedBalance
    /// What the RewardPool holds at genesis; claims are paid from it.
    public var rewardPoolBalance = BigUInt(1_000_000) * PLMUnit.wei
    /// Seconds per RewardPool epoch (the real pool counts 1200 blocks; the devnet mines only on
    /// demand, so it counts time).
    public var epochSeconds = 60
    /// What every epoch adds to the pool's distributable rewards (the real chain's block rewards).
    public var epochReward = BigUInt(10) * PLMUnit.wei
    /// The only address whose reportContribution the RewardPool accepts.
    public var oracle = DevAccounts.oracle.address
    /// An agent counts as active this long after its registration or last heartbeat
    /// (three heartbeat intervals).
    public var activeWindowSeconds = 900
    /// Unix seconds now; tests substitute their own clock.
    public var clock: @Sendable () -> Int = { Int(Date().timeIntervalSince1970) }

    public init() {}
}

/// Why the dev chain refused a request. `rpcCode` is the JSON-RPC error code it answers with.
public enum DevChainError: Error, CustomStringConvertible, Equatable {
    /// The transaction was not accepted into a block (geth's -32000 errors).
    case rejected(String)
    /// The request's parameters are malformed.
    case invalidParams(String)
    /// Fewer positional arguments than the method takes: argument `index` (0-based) is missing.
    case missingArgument(Int)
    /// An eth_call that reverts.
    case reverted(String)

    public var rpcCode: Int {
        switch self {
        case .rejected, .reverted: return -32000
        case .invalidParams, .missingArgument: return -32602
        }
    }

    public var description: String {
        switch self {
        case .rejected(let why): return why
        case .invalidParams(let why): return "invalid params: \(why)"
        case .missingArgument(let index): return "missing value for required argument \(index)"
        case .reverted(let why): return "execution reverted: \(why)"
        }
    }
}
