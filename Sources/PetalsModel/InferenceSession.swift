/// A sequence being generated through every block of a model, wherever the blocks run
/// (in this process, or on remote servers). Feed tokens, get the logits of the last one.
public protocol InferenceSession: AnyObject {
    /// Positions consumed so far.
    var position: Int { get }
    /// Runs `tokens` at positions position ..< position + tokens.count and returns the logits
    /// of the last of them.
    func step(_ tokens: [Int]) throws -> [Float]
}

/// Something that can open inference sessions over a whole model.
public protocol InferenceBackend: AnyObject {
    var hyperparameters: ModelHyperparameters { get }
    /// A new session with room for `capacity` positions.
    func openSession(capacity: Int) throws -> InferenceSession
}
