/// plumise-oracle's request DTOs, decorator for decorator (the file each comes from is named;
/// mikusnuz/plumise-oracle).
public enum OracleDTOs {
    /// src/modules/proof/dto/inference-proof.dto.ts
    public static let inferenceProof = DTOSchema("InferenceProofDto", [
        .required("modelHash", .isString, .isHexadecimal, .length(min: 66, max: 66)),
        .required("inputHash", .isString, .isHexadecimal, .length(min: 66, max: 66)),
        .required("outputHash", .isString, .isHexadecimal, .length(min: 66, max: 66)),
        .required("tokenCount", .isNumber, .min(1)),
    ])

    /// src/modules/metrics/dto/report-metrics.dto.ts (POST /api/v1/metrics/report)
    public static let reportMetrics = DTOSchema("ReportMetricsDto", [
        .required("wallet", .isEthereumAddress),
        .required("tokensProcessed", .isNumber, .min(0)),
        .required("avgLatencyMs", .isNumber, .min(0)),
        .required("requestCount", .isNumber, .min(0)),
        .required("uptimeSeconds", .isNumber, .min(0)),
        .required("timestamp", .isNumber, .min(0)),
        .required("signature", .isString),
        .optional("proofs", .isArray, .eachNested(inferenceProof)),
    ])

    /// src/modules/metrics/dto/register-node.dto.ts (POST /api/nodes/register)
    public static let registerNode = DTOSchema("RegisterNodeDto", [
        .required("address", .isEthereumAddress),
        .required("endpoint", .isURLWithProtocol),
        .required("capabilities", .isArray, .eachIsString),
        .required("timestamp", .isNumber, .min(0)),
        .required("signature", .isString),
        .optional("benchmarkTokPerSec", .isNumber, .min(0)),
        .optional("lanIp", .isString),
        // `@IsOptional() canDistribute?: boolean` has no type rule: any value passes.
        .optional("canDistribute"),
    ])

    /// src/modules/pipeline/dto/register-pipeline-node.dto.ts (POST /api/v1/pipeline/register)
    public static let registerPipelineNode = DTOSchema("RegisterPipelineNodeDto", [
        .required("address", .isEthereumAddress),
        .required("grpcEndpoint", .isURLWithProtocol),
        .required("httpEndpoint", .isURLWithProtocol),
        .required("model", .isString),
        .required("ramMb", .isNumber, .min(0)),
        .required("device", .isString),
        .required("vramMb", .isNumber, .min(0)),
        .optional("benchmarkTokPerSec", .isNumber, .min(0)),
        .required("timestamp", .isNumber, .min(0)),
        .required("signature", .isString),
    ])

    /// src/modules/pipeline/dto/pipeline-ready.dto.ts (POST /api/v1/pipeline/ready)
    public static let pipelineReady = DTOSchema("PipelineReadyDto", [
        .required("address", .isEthereumAddress),
        .required("model", .isString),
        .required("timestamp", .isNumber, .min(0)),
        .required("signature", .isString),
    ])
}
