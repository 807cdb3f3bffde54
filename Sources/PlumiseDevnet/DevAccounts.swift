import BigInt
import PlumiseChain

/// One pre-funded development account. Its key is public knowledge: never use it on mainnet.
public struct DevAccount: Sendable {
    public let index: Int
    /// 64 hex digits with 0x.
    public let privateKey: String
    public let wallet: Wallet
    public var address: Address { wallet.address }
}

/// The devnet's well-known accounts: keccak256("plumise-devnet-<i>") as private keys, so every
/// devnet (and every test) has the same addresses without any key file.
public enum DevAccounts {
    /// How many accounts genesis funds by default.
    public static let defaultCount = 10
    /// What genesis gives each of them: 1000 PLM.
    public static let fundedBalance = BigUInt(1000) * PLMUnit.wei

    /// Account `index`.
    public static func account(_ index: Int) -> DevAccount {
        key(seed: "plumise-devnet-\(index)", index: index)
    }

    public static func accounts(count: Int = defaultCount) -> [DevAccount] {
        (0..<count).map(account)
    }

    /// The dev oracle's own account: it sends reportContribution and distributeRewards, and is
    /// the only reporter the dev RewardPool accepts.
    public static let oracle = key(seed: "plumise-devnet-oracle", index: -1)

    private static func key(seed: String, index: Int) -> DevAccount {
        let secret = Keccak.hash256(seed)
        // keccak256 output is a valid secp256k1 secret with overwhelming probability; these
        // fixed seeds are checked by the tests.
        let hex = Hex.encode(secret)
        guard let wallet = try? Wallet(privateKey: hex) else { preconditionFailure("dev key \(seed) is not a valid secret") }
        return DevAccount(index: index, privateKey: hex, wallet: wallet)
    }
}

/// 1 PLM in wei.
public enum PLMUnit {
    public static let wei = BigUInt(10).power(18)
}
