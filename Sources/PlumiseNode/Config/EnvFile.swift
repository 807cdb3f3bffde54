import Foundation

/// Parser for `.env` files: `KEY=VALUE` lines with optional `export ` prefix, single or double
/// quotes around the value, `#` comments (whole lines, or after an unquoted value following a
/// space) and blank lines. Later assignments of a key win.
public enum EnvFile {
    /// Reads and parses the file at `path`.
    public static func load(path: String) throws -> [String: String] {
        // Read through a file handle: character devices such as /dev/null (an empty settings
        // file) have no size for String(contentsOfFile:) to trust.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            let reason = FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"
            throw ConfigError.envFileUnreadable(path: path, reason: reason)
        }
        defer { try? handle.close() }
        guard let data = try? handle.readToEnd() ?? Data(), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError.envFileUnreadable(path: path, reason: "not readable UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Parses `.env` text; `file` names the source in errors.
    public static func parse(_ text: String, file: String = ".env") throws -> [String: String] {
        var values: [String: String] = [:]
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") || line.hasPrefix("export\t") {
                line = line.dropFirst("export".count).drop(while: { $0 == " " || $0 == "\t" })
            }
            func malformed(_ reason: String) -> ConfigError {
                .malformedLine(file: file, line: lineNumber, reason: reason)
            }
            guard let equals = line.firstIndex(of: "=") else { throw malformed("expected KEY=VALUE") }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard isValidKey(key) else {
                throw malformed(key.isEmpty ? "missing key before '='" : "'\(key)' is not a valid variable name")
            }
            let rest = line[line.index(after: equals)...].drop(while: { $0 == " " || $0 == "\t" })
            values[key] = try parseValue(rest, key: key, malformed: malformed)
        }
        return values
    }

    static func isValidKey(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic)
        else { return false }
        return key.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && $0.properties.isAlphabetic) || ("0"..."9").contains($0) }
    }

    private static func parseValue(_ text: Substring, key: String,
                                   malformed: (String) -> ConfigError) throws -> String {
        guard let quote = text.first, quote == "\"" || quote == "'" else {
            // Unquoted: a '#' after whitespace starts a comment.
            var value = text
            if let hash = value.indices.first(where: { i in
                value[i] == "#" && i > value.startIndex && [" ", "\t"].contains(value[value.index(before: i)])
            }) {
                value = value[..<hash]
            }
            return value.trimmingCharacters(in: .whitespaces)
        }
        var out = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let char = text[index]
            if char == quote {
                let trailing = text[text.index(after: index)...].trimmingCharacters(in: .whitespaces)
                guard trailing.isEmpty || trailing.hasPrefix("#") else {
                    throw malformed("unexpected text after the closing quote of \(key)")
                }
                return out
            }
            if quote == "\"" && char == "\\" {
                let next = text.index(after: index)
                guard next < text.endIndex else { break }
                switch text[next] {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                default: out.append(text[next])
                }
                index = text.index(after: next)
                continue
            }
            out.append(char)
            index = text.index(after: index)
        }
        throw malformed("unterminated \(quote == "\"" ? "double" : "single") quote in the value of \(key)")
    }
}
