/// A fixed-size, manually allocated f32 buffer: the forward pass hands raw pointers to the C
/// kernels many times per token, and arrays would add copy-on-write checks and retain traffic.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    deinit { pointer.deallocate() }

    public subscript(index: Int) -> Float {
        get { pointer[index] }
        set { pointer[index] = newValue }
    }

    /// Copies of `length` values starting at `offset`.
    public func array(from offset: Int = 0, length: Int? = nil) -> [Float] {
        let n = length ?? (count - offset)
        return Array(UnsafeBufferPointer(start: pointer + offset, count: n))
    }

    public func copy(from values: [Float], at offset: Int = 0) {
        precondition(offset + values.count <= count, "FloatBuffer overflow")
        values.withUnsafeBufferPointer { (pointer + offset).update(from: $0.baseAddress!, count: values.count) }
    }
}
