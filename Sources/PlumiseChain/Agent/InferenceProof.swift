import BigInt

/// A proof of one inference: hashes of the model id, input and output, bound to the agent (the
/// 0x20 verifyInference payload names it; the oracle report carries ``ReportedProof``).
public struct InferenceProof: Hashable, Sendable {
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

    /// The form the oracle takes in a report's `proofs`.
    public var reported: ReportedProof {
        ReportedProof(modelHash: Hex.encode(modelHash), inputHash: Hex.encode(inputHash), outputHash: Hex.encode(outputHash),
                      tokenCount: tokenCount)
    }
}

/// A proof as a report carries it: exactly the four fields of plumise-oracle's InferenceProofDto
/// (src/modules/proof/dto/inference-proof.dto.ts: three 0x + 64 hex strings of length 66 and a
/// tokenCount >= 1). The oracle's ValidationPipe forbids any other key (src/main.ts:
/// whitelist + forbidNonWhitelisted), so the agent and a proof hash are not sent: the report's
/// signer is the agent.
public struct ReportedProof: Codable, Hashable, Sendable {
    public var modelHash: String
    public var inputHash: String
    public var outputHash: String
    public var tokenCount: Int

    public init(modelHash: String, inputHash: String, outputHash: String, tokenCount: Int) {
        self.modelHash = modelHash
        self.inputHash = inputHash
        self.outputHash = outputHash
        self.tokenCount = tokenCount
    }
}
