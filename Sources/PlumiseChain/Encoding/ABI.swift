import BigInt
import Foundation

/// The slice of the Solidity ABI the node needs: static arguments (address, uint256, bool,
/// bytes32) and static tuple results.
public enum ABI {
    public enum Value: Equatable, Sendable {
        case address(Address)
        case uint(BigUInt)
        case bool(Bool)
        case bytes32([UInt8])
    }

    /// The first 4 bytes of keccak256 of the canonical signature, e.g. "claimReward()".
    public static func selector(_ signature: String) -> [UInt8] { Array(Keccak.hash256(signature).prefix(4)) }

    /// selector ‖ each argument as a 32-byte word.
    public static func call(_ signature: String, _ arguments: [Value] = []) -> [UInt8] {
        selector(signature) + arguments.flatMap(word)
    }

    public static func word(_ value: Value) -> [UInt8] {
        switch value {
        case .address(let a): return [UInt8](repeating: 0, count: 12) + a.bytes
        case .uint(let n): return SignedTransaction.word(n)
        case .bool(let b): return SignedTransaction.word(b ? 1 : 0)
        case .bytes32(let b): return b + [UInt8](repeating: 0, count: max(0, 32 - b.count))
        }
    }

    /// Splits return data into 32-byte words, requiring at least `count`.
    public static func words(_ data: [UInt8], count: Int) throws -> [[UInt8]] {
        guard data.count >= 32 * count else {
            throw ChainError.abi("expected \(count) words of return data, got \(data.count) bytes")
        }
        return (0..<count).map { Array(data[32 * $0..<32 * ($0 + 1)]) }
    }

    public static func uint(_ word: [UInt8]) -> BigUInt { BigUInt(Data(word)) }

    public static func bool(_ word: [UInt8]) throws -> Bool {
        switch uint(word) {
        case 0: return false
        case 1: return true
        default: throw ChainError.abi("a bool word must be 0 or 1")
        }
    }

    public static func address(_ word: [UInt8]) throws -> Address {
        guard word.prefix(12).allSatisfy({ $0 == 0 }) else { throw ChainError.abi("an address word has non-zero high bytes") }
        return try Address(bytes: Array(word.suffix(20)))
    }
}
