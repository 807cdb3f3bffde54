import PluginAPI

/// A buffer the plugin owns: tensors rearranged at load (GPT-2's transposed Conv1D weights,
/// BLOOM's fused QKV rows).
final class OwnedBytes {
    let pointer: UnsafeMutableRawPointer
    let count: Int

    init(count: Int) {
        self.count = count
        pointer = .allocate(byteCount: max(count, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}

/// Keeps every mapping and owned buffer of an opened model alive.
final class ModelStorage {
    var regions: [MappedFile] = []
    var owned: [OwnedBytes] = []
}
