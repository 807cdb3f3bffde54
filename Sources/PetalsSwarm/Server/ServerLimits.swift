/// What one shard server accepts; requests beyond these get a clear error, never a crash.
public struct ServerLimits: Equatable, Sendable {
    /// Inference sessions open at once.
    public var maxSessions = 32
    /// KV-cache positions reserved across all open sessions (each session reserves its max length).
    public var cacheTokenBudget = 32_768
    /// Positions one session may hold.
    public var maxSessionLength = 2_048
    /// Seconds a session (and a connection) may stay unused before it is freed (its client
    /// probably vanished).
    public var idleTimeoutSeconds: Double = 120
    /// Tokens in one forward or step request.
    public var maxTokensPerRequest = 2_048
    /// Seconds a request's bytes may take to arrive once its frame started (one deadline for
    /// the whole frame).
    public var stepTimeoutSeconds: Double = 30
    /// Connections open at once (each holds a thread and a file descriptor).
    public var maxConnections = 256
    /// Connections open at once from one remote address.
    public var maxConnectionsPerHost = 64

    public init(maxSessions: Int = 32, cacheTokenBudget: Int = 32_768, maxSessionLength: Int = 2_048,
                idleTimeoutSeconds: Double = 120, maxTokensPerRequest: Int = 2_048, stepTimeoutSeconds: Double = 30,
                maxConnections: Int = 256, maxConnectionsPerHost: Int = 64) {
        self.maxSessions = maxSessions
        self.cacheTokenBudget = cacheTokenBudget
        self.maxSessionLength = maxSessionLength
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.maxTokensPerRequest = maxTokensPerRequest
        self.stepTimeoutSeconds = stepTimeoutSeconds
        self.maxConnections = maxConnections
        self.maxConnectionsPerHost = maxConnectionsPerHost
    }
}
