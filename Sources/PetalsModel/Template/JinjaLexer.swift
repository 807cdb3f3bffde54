/// One token of a template: literal text between tags, tag delimiters, and the expression
/// tokens inside tags.
struct JinjaToken: Equatable {
    enum Kind: Equatable {
        case text(String)
        case blockBegin, blockEnd        // {% %}
        case variableBegin, variableEnd  // {{ }}
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)                  // operators and punctuation: + - ( ) [ ] . | , : == ...
    }
    let kind: Kind
    let line: Int
}

/// Splits a template into tokens the way jinja2 does with the settings Hugging Face's
/// `apply_chat_template` (and llama.cpp's minja) use: `trim_blocks` (the newline after a block or
/// comment tag is dropped), `lstrip_blocks` (spaces and tabs from the start of a line up to a
/// block or comment tag are dropped), `-` on a delimiter strips all whitespace on that side,
/// `+` keeps it, and one trailing newline of the template is removed.
struct JinjaLexer {
    private let chars: [Character]
    private var i = 0
    private var line = 1
    private var tokens: [JinjaToken] = []
    /// True at the template start and after a tag whose end consumed a newline (jinja's
    /// `line_starting`, which lets lstrip_blocks strip indentation of the line's first tag).
    private var lineStarting = true

    static func tokenize(_ source: String) throws -> [JinjaToken] {
        var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
        if text.hasSuffix("\n") { text.removeLast() }
        var lexer = JinjaLexer(chars: Array(text))
        try lexer.run()
        return lexer.tokens
    }

    private init(chars: [Character]) { self.chars = chars }

    private func peek(_ offset: Int = 0) -> Character? {
        i + offset < chars.count ? chars[i + offset] : nil
    }

    private mutating func run() throws {
        var pending = ""  // text since the last tag
        while i < chars.count {
            guard chars[i] == "{", let next = peek(1), next == "{" || next == "%" || next == "#" else {
                if chars[i] == "\n" { line += 1 }
                pending.append(chars[i])
                i += 1
                continue
            }
            let modifier = peek(2)
            let isBlockOrComment = next != "{"
            var text = pending
            pending = ""
            if modifier == "-" {
                text = String(text.reversed().drop(while: \.isWhitespace).reversed())
            } else if modifier != "+", isBlockOrComment {
                text = Self.lstripLastLine(text, lineStarting: lineStarting)
            }
            if !text.isEmpty { tokens.append(JinjaToken(kind: .text(text), line: line)) }
            i += (modifier == "-" || modifier == "+") ? 3 : 2
            switch next {
            case "#": try skipComment()
            case "%": try lexTag(begin: .blockBegin, end: .blockEnd, closing: "%")
            default: try lexTag(begin: .variableBegin, end: .variableEnd, closing: "}")
            }
        }
        if !pending.isEmpty { tokens.append(JinjaToken(kind: .text(pending), line: line)) }
    }

    /// lstrip_blocks: spaces and tabs between the last newline (or a line start) and the tag go.
    private static func lstripLastLine(_ text: String, lineStarting: Bool) -> String {
        let lastNewline = text.lastIndex(of: "\n")
        let lineStart = lastNewline.map { text.index(after: $0) } ?? text.startIndex
        guard lastNewline != nil || lineStarting else { return text }
        guard text[lineStart...].allSatisfy({ $0 == " " || $0 == "\t" }) else { return text }
        return String(text[..<lineStart])
    }

    /// After a closing delimiter: `-` strips all following whitespace; a block or comment tag
    /// without `+` drops one following newline (trim_blocks).
    private mutating func applyTrailingControl(strip: Bool, keep: Bool, isBlockOrComment: Bool) {
        lineStarting = false
        if strip {
            while let c = peek(), c.isWhitespace {
                if c == "\n" { line += 1; lineStarting = true } else { lineStarting = false }
                i += 1
            }
        } else if !keep, isBlockOrComment, peek() == "\n" {
            i += 1
            line += 1
            lineStarting = true
        }
    }

    private mutating func skipComment() throws {
        let startLine = line
        while i < chars.count {
            if chars[i] == "#", peek(1) == "}" {
                let strip = i > 0 && chars[i - 1] == "-"
                let keep = i > 0 && chars[i - 1] == "+"
                i += 2
                applyTrailingControl(strip: strip, keep: keep, isBlockOrComment: true)
                return
            }
            if chars[i] == "\n" { line += 1 }
            i += 1
        }
        throw JinjaError.syntax("comment opened with {# is never closed", line: startLine)
    }

    /// Tokens of the expression inside `{% … %}` or `{{ … }}`, up to the closing delimiter.
    private mutating func lexTag(begin: JinjaToken.Kind, end: JinjaToken.Kind, closing: Character) throws {
        let startLine = line
        tokens.append(JinjaToken(kind: begin, line: line))
        while true {
            guard let c = peek() else {
                throw JinjaError.syntax("tag opened here is never closed", line: startLine)
            }
            if c == "\n" { line += 1; i += 1; continue }
            if c.isWhitespace { i += 1; continue }
            // Closing delimiter, with an optional - or + before it.
            if (c == "-" || c == "+"), peek(1) == closing, peek(2) == "}" {
                i += 3
                tokens.append(JinjaToken(kind: end, line: line))
                applyTrailingControl(strip: c == "-", keep: c == "+", isBlockOrComment: closing == "%")
                return
            }
            if c == closing, peek(1) == "}" {
                i += 2
                tokens.append(JinjaToken(kind: end, line: line))
                applyTrailingControl(strip: false, keep: false, isBlockOrComment: closing == "%")
                return
            }
            if c == "'" || c == "\"" {
                tokens.append(JinjaToken(kind: .string(try lexString(quote: c)), line: line))
            } else if c.isNumber, c.isASCII {
                tokens.append(JinjaToken(kind: lexNumber(), line: line))
            } else if c.isLetter || c == "_" {
                var name = ""
                while let d = peek(), d.isLetter || d.isNumber || d == "_" { name.append(d); i += 1 }
                tokens.append(JinjaToken(kind: .name(name), line: line))
            } else {
                tokens.append(JinjaToken(kind: .op(try lexOperator()), line: line))
            }
        }
    }

    private mutating func lexNumber() -> JinjaToken.Kind {
        var digits = ""
        var isFloat = false
        while let d = peek(), d.isASCII, d.isNumber || d == "_" || (d == "." && !isFloat && peek(1)?.isNumber == true) {
            if d == "." { isFloat = true }
            if d != "_" { digits.append(d) }
            i += 1
        }
        if let e = peek(), e == "e" || e == "E", let n = peek(1), n.isNumber || ((n == "-" || n == "+") && peek(2)?.isNumber == true) {
            isFloat = true
            digits.append("e")
            i += 1
            if n == "-" || n == "+" { digits.append(n); i += 1 }
            while let d = peek(), d.isASCII, d.isNumber { digits.append(d); i += 1 }
        }
        if isFloat { return .float(Double(digits) ?? 0) }
        return .integer(Int(digits) ?? Int.max)
    }

    private static let operators = ["//", "**", "==", "!=", "<=", ">=",
                                    "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]",
                                    "{", "}", ".", ",", ":", "|"]

    private mutating func lexOperator() throws -> String {
        for op in Self.operators {
            let opChars = Array(op)
            if i + opChars.count <= chars.count, Array(chars[i..<i + opChars.count]) == opChars {
                i += opChars.count
                return op
            }
        }
        throw JinjaError.syntax("unexpected character '\(chars[i])'", line: line)
    }

    /// A quoted string with Python's escapes (jinja2 decodes literals with unicode-escape).
    private mutating func lexString(quote: Character) throws -> String {
        let startLine = line
        i += 1
        var out = ""
        while let c = peek() {
            i += 1
            if c == quote { return out }
            if c == "\n" { line += 1 }
            guard c == "\\", let e = peek() else { out.append(c); continue }
            i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "0": out.append("\0")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": line += 1  // an escaped newline continues the string
            case "x", "u", "U":
                let width = e == "x" ? 2 : e == "u" ? 4 : 8
                var hex = ""
                while hex.count < width, let h = peek(), h.isHexDigit { hex.append(h); i += 1 }
                guard hex.count == width, let value = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(value) else {
                    throw JinjaError.syntax("bad \\\(e) escape in a string", line: line)
                }
                out.unicodeScalars.append(scalar)
            default:
                out.append("\\")
                out.append(e)
            }
        }
        throw JinjaError.syntax("string opened here is never closed", line: startLine)
    }
}
