import Foundation

/// validator.js isURL with class-validator's `@IsUrl({ require_protocol: true })` options over its
/// defaults: protocol http, https or ftp and required; a host that is an IPv4 address, a
/// bracketed IPv6 address or a domain with a top-level domain (so "localhost" and bare host
/// names fail, "127.0.0.1" passes); an optional port in 1...65535; no spaces; at most 2083
/// characters.
enum URLRule {
    static func isURL(_ text: String?) -> Bool {
        guard let text, !text.isEmpty, text.count <= 2083, !text.contains(where: { $0.isWhitespace }) else { return false }
        guard let schemeEnd = text.range(of: "://") else { return false }
        guard ["http", "https", "ftp"].contains(text[..<schemeEnd.lowerBound].lowercased()) else { return false }
        var rest = Substring(text[schemeEnd.upperBound...])
        if let cut = rest.firstIndex(where: { "/?#".contains($0) }) { rest = rest[..<cut] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        var host = rest
        var port: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return false }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return false }
                port = after.dropFirst()
            }
            guard isIPv6(host) else { return false }
        } else {
            if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                port = rest[rest.index(after: colon)...]
            }
            guard isIPv4(host) || isDomain(host) else { return false }
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number), port.allSatisfy(\.isNumber) else { return false }
        }
        return true
    }

    static func isIPv4(_ host: Substring) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { part in
            !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isNumber) && Int(part).map { $0 <= 255 } == true
        }
    }

    static func isIPv6(_ host: Substring) -> Bool {
        !host.isEmpty && host.contains(":") && host.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
    }

    /// A fully qualified domain name: labels of letters, digits and inner hyphens, and a
    /// top-level domain of two or more letters (or punycode).
    static func isDomain(_ host: Substring) -> Bool {
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let tld = labels.last else { return false }
        let tldOK = (tld.count >= 2 && tld.allSatisfy { $0.isLetter }) || tld.lowercased().hasPrefix("xn--")
        return tldOK && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }
        }
    }
}
