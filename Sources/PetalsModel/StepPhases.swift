import Dispatch

/// Wall time of a forward's parts, summed over its blocks, for `petals-bench --phases`: where a
/// batched step's time goes (the products, attention, the head). Off in serving: a shard whose
/// `phases` is nil pays one optional check per part. The llama-family block and the output head
/// report their parts; other architectures' blocks report nothing.
public final class StepPhases: @unchecked Sendable { // used under the shard's lock only
    public enum Phase: Int, CaseIterable, Sendable {
        case norms, queryKeyValue, rotary, attention, attentionOutput, gateUp, activation, down, residual
        /// logitsOut: the logits' buffer and its copies into each row's array.
        case headNorm, headProduct, logitsOut

        public var name: String {
            switch self {
            case .norms: "norms"
            case .queryKeyValue: "qkv"
            case .rotary: "rope"
            case .attention: "attention"
            case .attentionOutput: "attn_out"
            case .gateUp: "gate_up"
            case .activation: "silu_mul"
            case .down: "down"
            case .residual: "residual"
            case .headNorm: "head_norm"
            case .headProduct: "head"
            case .logitsOut: "logits_buffers"
            }
        }
    }

    private var nanoseconds = [UInt64](repeating: 0, count: Phase.allCases.count)
    private var last: UInt64 = 0

    public init() {}

    /// Zeroes every phase.
    public func reset() {
        for i in nanoseconds.indices { nanoseconds[i] = 0 }
    }

    /// Starts the clock of the next `mark`.
    func start() { last = DispatchTime.now().uptimeNanoseconds }

    /// Adds the time since the last `start` or `mark` to `phase`.
    func mark(_ phase: Phase) {
        let now = DispatchTime.now().uptimeNanoseconds
        nanoseconds[phase.rawValue] &+= now &- last
        last = now
    }

    public func milliseconds(_ phase: Phase) -> Double { Double(nanoseconds[phase.rawValue]) / 1e6 }
}
