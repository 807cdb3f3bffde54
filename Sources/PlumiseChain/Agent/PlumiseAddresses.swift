/// Where the Plumise chain's precompiles and system contracts live (DESIGN.md wire facts).
public enum PlumiseAddresses {
    public static let chainID = 41956
    public static let verifyInference = Address.system(0x20)
    public static let agentRegister = Address.system(0x21)
    public static let agentHeartbeat = Address.system(0x22)
    /// claimReward precompile: empty data claims the sender's reward; the agent's address as a
    /// 32-byte word claims for that agent (the oracle's hourly sponsored claim, plumise-oracle
    /// monitor.service.ts); both end in RewardPool.claimRewardFor.
    public static let claimReward = Address.system(0x23)
    public static let rewardPool = Address.system(0x1000)

    public static let registerGas = 300_000
    public static let heartbeatGas = 100_000
    public static let verifyGas = 200_000
    public static let claimGas = 200_000
    /// What plumise-contracts test/e2e/testnet-e2e.ts gives a 0x23 claim.
    public static let claimPrecompileGas = 100_000
}
