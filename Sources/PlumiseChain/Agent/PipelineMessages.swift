import Foundation

/// POST /api/v1/pipeline/register: a node announces its endpoints and memory for a model; the
/// oracle answers with the layers assigned to it. Exactly the keys of plumise-oracle's
/// RegisterPipelineNodeDto (src/modules/pipeline/dto/register-pipeline-node.dto.ts): both
/// endpoints are http(s) URLs (@IsUrl with require_protocol) and must differ. Signed with
/// personal_sign over the compact JSON of the fields in this order (pipeline.service.ts
/// verifyRegistrationSignature).
public struct PipelineRegistration: Codable, Equatable, Sendable {
    public var address: String
    public var grpcEndpoint: String
    public var httpEndpoint: String
    public var model: String
    public var ramMb: Int
    public var device: String
    public var vramMb: Int
    public var timestamp: Int
    public var signature: String
    /// Optional and not signed (RegisterPipelineNodeDto).
    public var benchmarkTokPerSec: Double?

    public var canonicalMessage: String {
        "{\"address\":\(JSONText.string(address)),\"grpcEndpoint\":\(JSONText.string(grpcEndpoint)),"
            + "\"httpEndpoint\":\(JSONText.string(httpEndpoint)),\"model\":\(JSONText.string(model)),\"ramMb\":\(ramMb),"
            + "\"device\":\(JSONText.string(device)),\"vramMb\":\(vramMb),\"timestamp\":\(timestamp)}"
    }

    /// A registration signed by `wallet`.
    public static func signed(by wallet: Wallet, grpcEndpoint: String, httpEndpoint: String, model: String, ramMb: Int,
                              device: String = "cpu", vramMb: Int = 0, timestamp: Int,
                              benchmarkTokPerSec: Double? = nil) throws -> PipelineRegistration {
        var r = PipelineRegistration(address: wallet.address.description, grpcEndpoint: grpcEndpoint, httpEndpoint: httpEndpoint,
                                     model: model, ramMb: ramMb, device: device, vramMb: vramMb, timestamp: timestamp,
                                     signature: "", benchmarkTokPerSec: benchmarkTokPerSec)
        r.signature = try wallet.personalSign(r.canonicalMessage).hex
        return r
    }

    public func signer() throws -> Address {
        try PersonalMessage.signer(of: canonicalMessage, signature: Signature(hex: signature))
    }
}

/// POST /api/v1/pipeline/ready: a registered node has loaded its layers. Signed over
/// {"address":…,"model":…,"timestamp":…}.
public struct PipelineReady: Codable, Equatable, Sendable {
    public var address: String
    public var model: String
    public var timestamp: Int
    public var signature: String

    public var canonicalMessage: String {
        "{\"address\":\(JSONText.string(address)),\"model\":\(JSONText.string(model)),\"timestamp\":\(timestamp)}"
    }

    public static func signed(by wallet: Wallet, model: String, timestamp: Int) throws -> PipelineReady {
        var r = PipelineReady(address: wallet.address.description, model: model, timestamp: timestamp, signature: "")
        r.signature = try wallet.personalSign(r.canonicalMessage).hex
        return r
    }

    public func signer() throws -> Address {
        try PersonalMessage.signer(of: canonicalMessage, signature: Signature(hex: signature))
    }
}
