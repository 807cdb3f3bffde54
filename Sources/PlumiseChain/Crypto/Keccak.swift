import CKernels

/// Ethereum's keccak256 (the C implementation in CKernels).
public enum Keccak {
    public static func hash256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { input in
            out.withUnsafeMutableBufferPointer { ck_keccak256(input.baseAddress, input.count, $0.baseAddress) }
        }
        return out
    }

    public static func hash256(_ text: String) -> [UInt8] { hash256(Array(text.utf8)) }
}
