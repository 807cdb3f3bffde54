import Foundation

/// config.json (or tokenizer_config.json) with typed look-ups whose errors name the file and key.
struct ConfigJSON {
    let path: String
    let values: [String: Any]

    init(path: String) throws {
        self.path = path
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SafetensorsError.io(path: path, reason: error.localizedDescription)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw SafetensorsError.badConfig(path: path, reason: "not a JSON object")
        }
        values = object
    }

    init(path: String, values: [String: Any]) {
        self.path = path
        self.values = values
    }

    /// Reads `path` when it exists, else an empty configuration.
    static func optional(path: String) throws -> ConfigJSON {
        FileManager.default.fileExists(atPath: path) ? try ConfigJSON(path: path) : ConfigJSON(path: path, values: [:])
    }

    private func present(_ key: String) -> Any? {
        guard let value = values[key], !(value is NSNull) else { return nil }
        return value
    }

    func has(_ key: String) -> Bool { present(key) != nil }

    /// The first of `keys` present (configs name some settings in more than one way).
    func int(_ keys: String...) throws -> Int {
        for key in keys {
            guard let value = present(key) else { continue }
            guard let number = value as? NSNumber, Double(number.int64Value) == number.doubleValue else {
                throw SafetensorsError.badConfig(path: path, reason: "\(key) must be an integer, found \(value)")
            }
            return Int(number.int64Value)
        }
        throw SafetensorsError.badConfig(path: path, reason: "\(keys.joined(separator: " or ")) is missing")
    }

    /// A positive integer setting.
    func positive(_ keys: String...) throws -> Int {
        for key in keys where has(key) {
            let value = try int(key)
            guard value > 0 else { throw SafetensorsError.badConfig(path: path, reason: "\(key) must be positive, found \(value)") }
            return value
        }
        throw SafetensorsError.badConfig(path: path, reason: "\(keys.joined(separator: " or ")) is missing")
    }

    func optionalInt(_ key: String) throws -> Int? { has(key) ? try int(key) : nil }

    func optionalDouble(_ key: String) throws -> Double? { has(key) ? try double(key, default: 0) : nil }

    func double(_ key: String, default fallback: Double) throws -> Double {
        guard let value = present(key) else { return fallback }
        guard let number = value as? NSNumber else {
            throw SafetensorsError.badConfig(path: path, reason: "\(key) must be a number, found \(value)")
        }
        return number.doubleValue
    }

    func bool(_ key: String, default fallback: Bool) throws -> Bool {
        guard let value = present(key) else { return fallback }
        guard let flag = value as? Bool else {
            throw SafetensorsError.badConfig(path: path, reason: "\(key) must be true or false, found \(value)")
        }
        return flag
    }

    func string(_ key: String) -> String? { present(key) as? String }

    func object(_ key: String) -> [String: Any]? { present(key) as? [String: Any] }

    /// An integer or the first of a list of integers (eos_token_id may be either).
    func firstInt(_ key: String) -> Int? {
        if let number = present(key) as? NSNumber { return number.intValue }
        return (present(key) as? [NSNumber])?.first?.intValue
    }
}
