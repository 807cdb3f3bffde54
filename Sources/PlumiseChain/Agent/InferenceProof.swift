import BigInt

/// A proof of one inference (DESIGN.md): hashes of model, input and output, bound to the agent.
public struct InferenceProof: Hashable, Sendable, Codable {
    public let modelHash: [UInt8]
    public let inputHash: [UInt8]
    public let outputHash: [UInt8]
    public let agent: Address
    public let tokenCount: Int

    public init(modelName: String, input: String, output: String, agent: Address, tokenCount: Int) {
        modelHash = Keccak.hash256(modelName)
        inputHash = Keccak.hash256(input)
        outputHash = Keccak.hash256(output)
        self.agent = agent
        self.tokenCount = tokenCount
    }

    /// keccak256(modelHash ‖ inputHash ‖ outputHash ‖ agent left-padded to 32 bytes).
    public var proofHash: [UInt8] {
        Keccak.hash256(modelHash + inputHash + outputHash + ABI.word(.address(agent)))
    }

    /// The 160-byte input of the verifyInference precompile (0x20).
    public var verifyPayload: [UInt8] {
        modelHash + inputHash + outputHash + ABI.word(.address(agent)) + ABI.word(.uint(BigUInt(tokenCount)))
    }

    /// Parses a 160-byte verifyInference payload (the devnet's side).
    public init(verifyPayload data: [UInt8]) throws {
        guard data.count == 160 else { throw ChainError.abi("verifyInference input has \(data.count) bytes, expected 160") }
        modelHash = Array(data[0..<32])
        inputHash = Array(data[32..<64])
        outputHash = Array(data[64..<96])
        agent = try ABI.address(Array(data[96..<128]))
        let count = ABI.uint(Array(data[128..<160]))
        guard count <= BigUInt(Int.max) else { throw ChainError.abi("token count out of range") }
        tokenCount = Int(count)
    }

    private enum CodingKeys: String, CodingKey { case modelHash, inputHash, outputHash, agentAddress, tokenCount, proofHash }

    /// The oracle's JSON form: 0x-hex strings.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(Hex.encode(modelHash), forKey: .modelHash)
        try c.encode(Hex.encode(inputHash), forKey: .inputHash)
        try c.encode(Hex.encode(outputHash), forKey: .outputHash)
        try c.encode(agent.description, forKey: .agentAddress)
        try c.encode(tokenCount, forKey: .tokenCount)
        try c.encode(Hex.encode(proofHash), forKey: .proofHash)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func hash(_ key: CodingKeys) throws -> [UInt8] {
            guard let b = Hex.decode(try c.decode(String.self, forKey: key)), b.count == 32 else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "expected 32 bytes of hex")
            }
            return b
        }
        modelHash = try hash(.modelHash)
        inputHash = try hash(.inputHash)
        outputHash = try hash(.outputHash)
        agent = try Address(try c.decode(String.self, forKey: .agentAddress))
        tokenCount = try c.decode(Int.self, forKey: .tokenCount)
        if let claimed = try c.decodeIfPresent(String.self, forKey: .proofHash), Hex.decode(claimed) != proofHash {
            throw DecodingError.dataCorruptedError(forKey: .proofHash, in: c, debugDescription: "proofHash does not match the fields")
        }
    }
}
