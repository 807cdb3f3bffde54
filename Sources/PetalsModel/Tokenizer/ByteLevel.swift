/// GPT-2's reversible byte ↔ character mapping.
///
/// Byte-level BPE vocabularies never contain raw bytes: every byte is stored as one printable
/// Unicode character. Printable Latin-1 bytes ('!'...'~', '¡'...'¬', '®'...'ÿ') stand for
/// themselves; the 68 others (controls, space, soft hyphen...) are given the characters
/// U+0100, U+0101, ... in byte order. So a space becomes 'Ġ' (U+0120) and a newline 'Ċ' (U+010A).
enum ByteLevel {
    /// The stand-in character of each byte value.
    static let characterOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if standsForItself(UInt8(byte)) {
                table[byte] = UInt32(byte)
            } else {
                table[byte] = next
                next += 1
            }
        }
        return table
    }()

    /// The inverse map, indexed by character value (all stand-ins are below U+0144); -1 where
    /// a character stands for no byte.
    static let byteOfCharacter: [Int16] = {
        var table = [Int16](repeating: -1, count: 0x144)
        for (byte, character) in characterOfByte.enumerated() {
            table[Int(character)] = Int16(byte)
        }
        return table
    }()

    /// UTF-8 of each byte's stand-in character, ready to be appended.
    static let utf8OfByte: [[UInt8]] = characterOfByte.map { Array(String(Character(Unicode.Scalar($0)!)).utf8) }

    private static func standsForItself(_ byte: UInt8) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }

    /// The byte a stand-in character encodes, or nil when the character is not a stand-in.
    static func byte(of scalar: UInt32) -> UInt8? {
        guard scalar < UInt32(byteOfCharacter.count) else { return nil }
        let byte = byteOfCharacter[Int(scalar)]
        return byte < 0 ? nil : UInt8(byte)
    }

    /// Maps a vocabulary token's text back to the bytes it stands for, the way llama.cpp does:
    /// a character that stands for no byte is written out as "[UNK_BYTE_0x<utf8 hex><text>]".
    static func decode(tokenText text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if let byte = byte(of: scalar.value) {
                bytes.append(byte)
            } else {
                bytes.append(contentsOf: Array("[UNK_BYTE_0x".utf8))
                for unit in String(scalar).utf8 {
                    let hex = String(unit, radix: 16)
                    bytes.append(contentsOf: Array((hex.count == 1 ? "0" + hex : hex).utf8))
                }
                bytes.append(contentsOf: Array(text.utf8))
                bytes.append(UInt8(ascii: "]"))
            }
        }
        return bytes
    }
}
