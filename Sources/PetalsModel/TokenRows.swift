/// The token rows a matrix product multiplies, and the sequences they belong to. K-quant
/// kernels sum each token in the order llama.cpp's CPU backend gives a batch of its sequence's
/// length (ck_matmul_parts_seq), so a product needs each sequence's row count to give every row
/// the bits it gets when its sequence runs alone. Other types ignore the split.
struct TokenRows {
    /// All rows, sequence after sequence.
    let count: Int
    /// Rows of each sequence, in order (their sum is count).
    let sequenceLengths: [Int64]

    init(sequenceLengths: [Int]) {
        self.sequenceLengths = sequenceLengths.map(Int64.init)
        count = sequenceLengths.reduce(0, +)
    }

    /// `count` rows each of its own sequence (the last rows of a batch's sequences).
    static func separate(_ count: Int) -> TokenRows { TokenRows(sequenceLengths: Array(repeating: 1, count: count)) }
}
