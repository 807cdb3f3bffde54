import Foundation
import PlumiseChain

/// A model of what plumise-oracle's request validation does (src/main.ts: NestJS ValidationPipe
/// with whitelist, forbidNonWhitelisted and transform, over class-validator decorators on DTO
/// classes), so the dev oracle refuses exactly what the real one refuses, with the same messages.
///
/// class-validator's rules as modelled here: an optional property (`@IsOptional`) that is absent
/// or null skips its rules; every other rule runs and each failure adds its message; a key the
/// DTO does not declare is "property X should not exist"; nested DTOs (`@ValidateNested`) report
/// their messages behind the parent path ("proofs.0.tokenCount must not be less than 1"), as
/// NestJS flattens them.
public struct DTOSchema: Sendable {
    public let name: String
    public let fields: [DTOField]

    public init(_ name: String, _ fields: [DTOField]) {
        self.name = name
        self.fields = fields
    }

    /// The messages NestJS would answer with; empty when the value passes.
    public func validate(_ value: JSONValue) -> [String] {
        validate(value, path: "")
    }

    func validate(_ value: JSONValue, path: String) -> [String] {
        let object = value.object ?? [:]
        var messages: [String] = []
        // The whitelist check runs first (class-validator ValidationExecutor.whitelist).
        let declared = Set(fields.map(\.name))
        for key in object.keys.sorted() where !declared.contains(key) {
            messages.append(path + "property \(key) should not exist")
        }
        for field in fields {
            let present = object[field.name]
            if field.optional, present == nil || present == .null { continue }
            for rule in field.rules {
                messages += rule.check(present, property: field.name, path: path)
            }
        }
        return messages
    }
}

/// One decorated property of a DTO.
public struct DTOField: Sendable {
    public let name: String
    public let rules: [DTORule]
    public let optional: Bool

    public static func required(_ name: String, _ rules: DTORule...) -> DTOField { DTOField(name: name, rules: rules, optional: false) }
    public static func optional(_ name: String, _ rules: DTORule...) -> DTOField { DTOField(name: name, rules: rules, optional: true) }
}

/// The class-validator decorators plumise-oracle's DTOs use, with class-validator's messages.
public indirect enum DTORule: Sendable {
    case isEthereumAddress
    case isNumber
    case min(Double)
    case max(Double)
    case isString
    case isHexadecimal
    case length(min: Int, max: Int)
    case isArray
    case isBoolean
    /// `@IsString({ each: true })`
    case eachIsString
    /// `@IsUrl({ require_protocol: true })`
    case isURLWithProtocol
    /// `@ValidateNested({ each: true })` + `@Type(() => Schema)`
    case eachNested(DTOSchema)

    func check(_ value: JSONValue?, property: String, path: String) -> [String] {
        let p = path + property
        switch self {
        case .isEthereumAddress:
            return Self.isEthereumAddress(value) ? [] : ["\(p) must be an Ethereum address"]
        case .isNumber:
            return Self.number(value) != nil ? [] : ["\(p) must be a number conforming to the specified constraints"]
        case .min(let bound):
            return (Self.number(value).map { $0 >= bound } ?? false) ? [] : ["\(p) must not be less than \(Self.format(bound))"]
        case .max(let bound):
            return (Self.number(value).map { $0 <= bound } ?? false) ? [] : ["\(p) must not be greater than \(Self.format(bound))"]
        case .isString:
            return value?.string != nil ? [] : ["\(p) must be a string"]
        case .isHexadecimal:
            guard let text = value?.string, text.range(of: "^(0x|0h)?[0-9a-fA-F]+$", options: .regularExpression) != nil else {
                return ["\(p) must be a hexadecimal number"]
            }
            return []
        case .length(let low, let high):
            if let text = value?.string, (low...high).contains(text.count) { return [] }
            let count = value?.string?.count
            if count == nil || count! < low { return ["\(p) must be longer than or equal to \(low) characters"] }
            return ["\(p) must be shorter than or equal to \(high) characters"]
        case .isArray:
            if case .array? = value { return [] }
            return ["\(p) must be an array"]
        case .isBoolean:
            return value?.bool != nil ? [] : ["\(p) must be a boolean value"]
        case .eachIsString:
            guard case .array(let items)? = value else { return ["each value in \(p) must be a string"] }
            return items.allSatisfy { $0.string != nil } ? [] : ["each value in \(p) must be a string"]
        case .isURLWithProtocol:
            return URLRule.isURL(value?.string) ? [] : ["\(p) must be a URL address"]
        case .eachNested(let schema):
            guard case .array(let items)? = value else {
                return ["nested property \(p) must be either object or array"]
            }
            return items.enumerated().flatMap { index, item -> [String] in
                guard item.object != nil else { return ["\(p).\(index).nested property \(index) must be either object or array"] }
                return schema.validate(item, path: "\(p).\(index).")
            }
        }
    }

    /// validator.js isEthereumAddress: 0x and 40 hex digits (no checksum check).
    static func isEthereumAddress(_ value: JSONValue?) -> Bool {
        guard let text = value?.string else { return false }
        return text.range(of: "^0x[0-9a-fA-F]{40}$", options: .regularExpression) != nil
    }

    /// A JSON number that is finite (class-validator's IsNumber refuses NaN and Infinity; with
    /// `transform` but no implicit conversion, "5" stays a string and fails).
    static func number(_ value: JSONValue?) -> Double? {
        guard case .number(let n)? = value, n.isFinite else { return nil }
        return n
    }

    static func format(_ n: Double) -> String {
        n.rounded() == n && abs(n) < 1e15 ? String(Int(n)) : String(n)
    }
}
