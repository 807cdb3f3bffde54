import Foundation

/// Where each tensor of a model directory lives: one model.safetensors, several files listed
/// by model.safetensors.index.json (sharded checkpoints), or, without an index, every
/// *.safetensors file of the directory. Headers are read only for the files that hold a
/// tensor someone asks for.
final class TensorStore {
    static let singleFile = "model.safetensors"
    static let indexFile = "model.safetensors.index.json"

    let directory: URL
    /// Tensor name → file name (relative to `directory`); nil until a header is read when the
    /// directory has no index.
    private let fileOfTensor: [String: String]
    private var headers: [String: SafetensorsHeader] = [:]

    init(directory: URL) throws {
        self.directory = directory
        let fm = FileManager.default
        let index = directory.appendingPathComponent(Self.indexFile)
        if fm.fileExists(atPath: index.path) {
            fileOfTensor = try Self.readIndex(index)
            return
        }
        let names = ((try? fm.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !names.isEmpty else {
            throw SafetensorsError.unsupported(path: directory.path, reason: "no *.safetensors file and no \(Self.indexFile)")
        }
        var map: [String: String] = [:]
        for name in names {
            let header = try SafetensorsHeader(path: directory.appendingPathComponent(name).path)
            headers[name] = header
            for tensor in header.entries.keys {
                if let other = map[tensor] {
                    throw SafetensorsError.badHeader(path: header.path, reason: "tensor \(tensor) is also in \(other)")
                }
                map[tensor] = name
            }
        }
        fileOfTensor = map
    }

    /// The index's weight_map, checked for file names that stay inside the directory.
    private static func readIndex(_ url: URL) throws -> [String: String] {
        let root: Any
        do {
            root = try JSONSerialization.jsonObject(with: Data(contentsOf: url))
        } catch {
            throw SafetensorsError.badIndex(path: url.path, reason: "not readable JSON (\(error.localizedDescription))")
        }
        guard let weightMap = (root as? [String: Any])?["weight_map"] as? [String: String] else {
            throw SafetensorsError.badIndex(path: url.path, reason: "no weight_map object of tensor name → file name")
        }
        for file in Set(weightMap.values) where file.contains("/") || file.hasPrefix(".") {
            throw SafetensorsError.badIndex(path: url.path, reason: "file name '\(file)' must be a plain name inside the directory")
        }
        return weightMap
    }

    func contains(_ name: String) -> Bool { fileOfTensor[name] != nil }

    /// The tensor's header entry and the file holding it, or nil when no file lists the name.
    func entry(_ name: String) throws -> (header: SafetensorsHeader, entry: SafetensorsEntry)? {
        guard let file = fileOfTensor[name] else { return nil }
        let header = try header(file)
        guard let entry = header.entries[name] else {
            throw SafetensorsError.badIndex(path: directory.appendingPathComponent(Self.indexFile).path,
                                            reason: "it places \(name) in \(file), whose header has no such tensor")
        }
        return (header, entry)
    }

    private func header(_ file: String) throws -> SafetensorsHeader {
        if let cached = headers[file] { return cached }
        let path = directory.appendingPathComponent(file).path
        guard FileManager.default.fileExists(atPath: path) else {
            throw SafetensorsError.badIndex(path: directory.appendingPathComponent(Self.indexFile).path,
                                            reason: "it refers to \(file), which does not exist")
        }
        let header = try SafetensorsHeader(path: path)
        headers[file] = header
        return header
    }
}
