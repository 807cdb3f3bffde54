import Foundation

/// Python's json.dumps(value, ensure_ascii=False, indent=indent) of a template value, noting
/// whether any string in it came from message content.
struct JinjaJSONWriter {
    let indent: Int?
    private(set) var output = ""
    private(set) var touchedContent = false

    init(indent: Int?) { self.indent = indent }

    mutating func write(_ value: JinjaValue, line: Int, level: Int = 0) throws {
        switch value {
        case .none, .undefined: output += "null"
        case .bool(let b): output += b ? "true" : "false"
        case .int(let n): output += String(n)
        case .double(let x): output += x.isNaN ? "NaN" : x.isInfinite ? (x < 0 ? "-Infinity" : "Infinity") : JinjaValue.pythonFloat(x)
        case .string(let s):
            if s.hasContent { touchedContent = true }
            writeString(s.string)
        case .list(let items), .tuple(let items):
            try writeContainer(items.map { (nil, $0) }, open: "[", close: "]", line: line, level: level)
        case .dict(let d):
            try writeContainer(d.pairs.map { ($0.0, $0.1) }, open: "{", close: "}", line: line, level: level)
        case .namespace(let ns):
            try writeContainer(ns.fields.pairs.map { ($0.0, $0.1) }, open: "{", close: "}", line: line, level: level)
        case .function(let f):
            throw JinjaError.runtime("tojson cannot encode the function \(f.name)", line: line)
        }
    }

    private mutating func writeContainer(_ entries: [(String?, JinjaValue)], open: String, close: String,
                                         line: Int, level: Int) throws {
        output += open
        guard !entries.isEmpty else { output += close; return }
        for (index, (key, value)) in entries.enumerated() {
            if index > 0 { output += indent == nil ? ", " : "," }
            if let indent { output += "\n" + String(repeating: " ", count: indent * (level + 1)) }
            if let key {
                writeString(key)
                output += ": "
            }
            try write(value, line: line, level: level + 1)
        }
        if let indent { output += "\n" + String(repeating: " ", count: indent * level) }
        output += close
    }

    /// json.dumps(ensure_ascii=False)'s string form. PlumiseChain's JSONText.string writes
    /// JSON.stringify's, which escapes the same characters the same way for every Swift string
    /// (the two differ only on lone surrogates, which a Swift String cannot hold); the copies
    /// stay apart because the template engine and the chain client share no module, and the
    /// chain's signed bytes must not change if a template ever needs ensure_ascii.
    private mutating func writeString(_ s: String) {
        output += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            default:
                if scalar.value < 0x20 {
                    output += String(format: "\\u%04x", scalar.value)
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }
}
