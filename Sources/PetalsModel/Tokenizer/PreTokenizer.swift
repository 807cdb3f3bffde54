/// Splits text into words before BPE runs on each word separately, as llama.cpp's pre-tokenizer
/// for the model's `tokenizer.ggml.pre` does. A pre-tokenizer is a list of split rules applied in
/// turn: each rule splits every word the previous rule produced, never joining across them.
struct PreTokenizer: Sendable {
    /// One regular expression of llama.cpp's list, implemented by hand over Unicode scalars.
    enum Rule: Sendable {
        /// `\p{N}`: every number character becomes a word of its own; the text between stays whole.
        case isolateNumbers
        /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
        /// ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`; Qwen2's is the same with
        /// `\p{N}` (one digit per word): `maxDigits` 1.
        case llama3(maxDigits: Int)
        /// BLOOM: ` ?[^(\s|.,!?…。，、।۔،)]+`; the text between matches stays whole.
        case bloom
        /// Mistral's tekken, as llama.cpp adapts it for std::regex:
        /// `[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}|
        /// ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`: Llama 3's without contractions, one
        /// digit per word, `/` after punctuation, and letter runs cut where case changes: an
        /// "upper" letter is one that is not a-z, a "lower" one not A-Z (so a letter outside
        /// ASCII is both, as in llama.cpp, which sees every such letter as one class).
        case tekken
    }

    let name: String
    let rules: [Rule]
    /// A word that is itself a vocabulary token is emitted whole, without running merges.
    let ignoresMerges: Bool
    /// Detokenizing removes the space before ?!., and in a few apostrophe cases.
    let cleansSpaces: Bool

    /// `tokenizer.ggml.pre` names accepted, with llama.cpp's settings for each.
    /// ("gpt2" is accepted as an alias of llama.cpp's "gpt-2".)
    private static let known: [String: (rules: [Rule], ignoresMerges: Bool, cleansSpaces: Bool)] = [
        "smollm": ([.isolateNumbers, .gpt2], false, false),
        "starcoder": ([.isolateNumbers, .gpt2], false, true),
        "refact": ([.isolateNumbers, .gpt2], false, true),
        "codeshell": ([.isolateNumbers, .gpt2], false, true),
        "command-r": ([.isolateNumbers, .gpt2], false, false),
        "gpt-2": ([.gpt2], false, true),
        "gpt2": ([.gpt2], false, true),
        "phi-2": ([.gpt2], false, true),
        "mpt": ([.gpt2], false, true),
        "olmo": ([.gpt2], false, true),
        "llama3": ([.llama3(maxDigits: 3)], true, true),
        "llama-v3": ([.llama3(maxDigits: 3)], true, true),
        "llama-bpe": ([.llama3(maxDigits: 3)], true, true),
        "falcon3": ([.llama3(maxDigits: 3)], true, true),
        "dbrx": ([.llama3(maxDigits: 3)], false, true),
        "smaug-bpe": ([.llama3(maxDigits: 3)], false, true),
        "pixtral": ([.llama3(maxDigits: 3)], true, true),
        "falcon-h1": ([.llama3(maxDigits: 3)], true, true),
        "tekken": ([.tekken], true, false),
        "qwen2": ([.llama3(maxDigits: 1)], false, false),
        "deepseek-r1-qwen": ([.llama3(maxDigits: 1)], false, false),
        "bloom": ([.bloom], false, true),
        "poro-chat": ([.bloom], false, false),
    ]

    static var supportedNames: [String] { known.keys.sorted() }

    init(name: String) throws {
        guard let settings = Self.known[name] else {
            throw TokenizerError.unsupportedPreTokenizer(name, supported: Self.supportedNames)
        }
        self.name = name
        self.rules = settings.rules
        self.ignoresMerges = settings.ignoresMerges
        self.cleansSpaces = settings.cleansSpaces
    }

    /// Splits `scalars` into words; returns their ranges, in order, covering all of the text.
    func split(_ scalars: [UInt32]) -> [Range<Int>] {
        guard !scalars.isEmpty else { return [] }
        let classes = scalars.map(CharacterClass.of)
        var words = [0..<scalars.count]
        for rule in rules {
            var finer: [Range<Int>] = []
            finer.reserveCapacity(words.count * 2)
            for word in words {
                var splitter = WordSplitter(scalars: scalars, classes: classes, span: word)
                switch rule {
                case .isolateNumbers: splitter.isolateNumbers(into: &finer)
                case .gpt2: splitter.gpt2(into: &finer)
                case .llama3(let maxDigits): splitter.llama3(maxDigits: maxDigits, into: &finer)
                case .tekken: splitter.llama3(maxDigits: 1, tekken: true, into: &finer)
                case .bloom: splitter.bloom(into: &finer)
                }
            }
            words = finer
        }
        return words
    }
}

/// Applies one rule inside one span of the text. Positions outside the span read as "nothing",
/// so a rule never looks across the boundaries an earlier rule made (llama.cpp's behaviour).
private struct WordSplitter {
    let scalars: [UInt32]
    let classes: [CharacterClass]
    let span: Range<Int>
    private var wordStart: Int

    init(scalars: [UInt32], classes: [CharacterClass], span: Range<Int>) {
        self.scalars = scalars
        self.classes = classes
        self.span = span
        self.wordStart = span.lowerBound
    }

    private static let space: UInt32 = 0x20, apostrophe: UInt32 = 0x27
    private static let cr: UInt32 = 0x0D, lf: UInt32 = 0x0A, slash: UInt32 = 0x2F

    private func scalar(_ i: Int) -> UInt32? { i < span.upperBound ? scalars[i] : nil }
    private func inSpan(_ i: Int) -> Bool { i < span.upperBound }
    private func isLetter(_ i: Int) -> Bool { inSpan(i) && classes[i].isLetter }
    private func isNumber(_ i: Int) -> Bool { inSpan(i) && classes[i].isNumber }
    private func isWhitespace(_ i: Int) -> Bool { inSpan(i) && classes[i].isWhitespace }
    private func isOther(_ i: Int) -> Bool { inSpan(i) && classes[i].isOther }
    private func isNewline(_ i: Int) -> Bool { scalar(i) == Self.cr || scalar(i) == Self.lf }

    /// Ends the current word at `end` (empty words are dropped) and returns `end`.
    @discardableResult
    private mutating func cut(at end: Int, into words: inout [Range<Int>]) -> Int {
        if end > wordStart { words.append(wordStart..<end) }
        wordStart = end
        return end
    }

    /// Length of a contraction ('s 't 'm 'd 're 've 'll) starting at `i`, or 0.
    private func contractionLength(at i: Int, ignoringCase: Bool) -> Int {
        guard scalar(i) == Self.apostrophe, let first = scalar(i + 1) else { return 0 }
        func lower(_ c: UInt32) -> UInt32 {
            ignoringCase && (0x41...0x5A).contains(c) ? c + 0x20 : c
        }
        let c1 = lower(first)
        if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { return 2 } // s t m d
        guard let second = scalar(i + 2) else { return 0 }
        let c2 = lower(second)
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) {
            return 3 // re ve ll
        }
        return 0
    }

    /// Number of whitespace characters from `i` on.
    private func whitespaceRun(from i: Int) -> Int {
        var n = 0
        while isWhitespace(i + n) { n += 1 }
        return n
    }

    mutating func isolateNumbers(into words: inout [Range<Int>]) {
        for i in span where classes[i].isNumber {
            cut(at: i, into: &words)
            cut(at: i + 1, into: &words)
        }
        cut(at: span.upperBound, into: &words)
    }

    mutating func gpt2(into words: inout [Range<Int>]) {
        var pos = span.lowerBound
        while pos < span.upperBound {
            let contraction = contractionLength(at: pos, ignoringCase: false)
            if contraction > 0 {
                pos = cut(at: pos + contraction, into: &words)
                continue
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: an ASCII space may lead the run.
            let body = scalars[pos] == Self.space ? pos + 1 : pos
            if isLetter(body) {
                pos = body
                while isLetter(pos) { pos += 1 }
                cut(at: pos, into: &words)
                continue
            }
            if isNumber(body) {
                pos = body
                while isNumber(pos) { pos += 1 }
                cut(at: pos, into: &words)
                continue
            }
            if isOther(body) {
                pos = body
                while isOther(pos) { pos += 1 }
                cut(at: pos, into: &words)
                continue
            }
            // `\s+(?!\S)`: a run of several spaces followed by a non-space leaves its last one to
            // lead the next word; otherwise `\s+` takes the whole run.
            let run = whitespaceRun(from: pos)
            if run > 1 && inSpan(pos + run) {
                pos = cut(at: pos + run - 1, into: &words)
            } else {
                pos = cut(at: pos + max(run, 1), into: &words)
            }
        }
        cut(at: span.upperBound, into: &words)
    }

    /// Llama 3's rule; with `tekken`, Mistral's (no contractions, case-split letter runs, `/`
    /// kept after punctuation).
    mutating func llama3(maxDigits: Int, tekken: Bool = false, into words: inout [Range<Int>]) {
        var pos = span.lowerBound
        while pos < span.upperBound {
            let c = scalars[pos]
            let contraction = tekken ? 0 : contractionLength(at: pos, ignoringCase: true)
            if contraction > 0 {
                pos = cut(at: pos + contraction, into: &words)
                continue
            }
            // `[^\r\n\p{L}\p{N}]?\p{L}+` (tekken: `[^\r\n\p{L}\p{N}]?` and a case-split run)
            if !(isNewline(pos) || classes[pos].isNumber) && (classes[pos].isLetter || isLetter(pos + 1)) {
                if tekken {
                    pos = cut(at: tekkenLetters(from: classes[pos].isLetter ? pos : pos + 1), into: &words)
                    continue
                }
                pos += 1
                while isLetter(pos) { pos += 1 }
                cut(at: pos, into: &words)
                continue
            }
            // `\p{N}{1,3}` (Qwen2: `\p{N}`)
            if classes[pos].isNumber {
                var groupStart = pos
                while isNumber(pos) {
                    pos += 1
                    if pos - groupStart >= maxDigits {
                        cut(at: pos, into: &words)
                        groupStart = pos
                    }
                }
                cut(at: pos, into: &words)
                continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*` (a lone trailing space at the end of the span lands here too)
            let body = c == Self.space ? pos + 1 : pos
            if !inSpan(body) || classes[body].isOther {
                pos = body
                while isOther(pos) { pos += 1 }
                while isNewline(pos) || (tekken && scalar(pos) == Self.slash) { pos += 1 }
                cut(at: pos, into: &words)
                continue
            }
            // `\s*[\r\n]+`: whitespace up to and including the run's last newline.
            var run = 0
            var afterLastNewline: Int?
            while isWhitespace(pos + run) {
                if isNewline(pos + run) { afterLastNewline = pos + run + 1 }
                run += 1
            }
            if let end = afterLastNewline {
                pos = cut(at: end, into: &words)
            } else if run > 1 && inSpan(pos + run) {
                pos = cut(at: pos + run - 1, into: &words)  // `\s+(?!\S)`
            } else {
                pos = cut(at: pos + max(run, 1), into: &words)  // `\s+`
            }
        }
        cut(at: span.upperBound, into: &words)
    }

    /// tekken's "upper" letters (`(?=\p{L})[^a-z]`) and "lower" ones (`(?=\p{L})[^A-Z]`).
    private func isUpper(_ i: Int) -> Bool { isLetter(i) && !(0x61...0x7A).contains(scalars[i]) }
    private func isLower(_ i: Int) -> Bool { isLetter(i) && !(0x41...0x5A).contains(scalars[i]) }

    /// The end of tekken's letter alternatives from `start` (a letter), as a backtracking
    /// matcher finds it: `upper* lower+` first, then `upper+ lower*`.
    private func tekkenLetters(from start: Int) -> Int {
        var end = start
        while isUpper(end) { end += 1 }
        if isLower(end) {
            // upper* lower+: the lower run after the upper run.
            while isLower(end) { end += 1 }
            return end
        }
        // Backtracking gives letters of the upper run back to `lower+`: the match ends after the
        // run's last letter that is also "lower" (a letter outside ASCII).
        if let last = (start..<end).last(where: isLower) { return last + 1 }
        // upper+ lower*: the upper run alone (what follows it is no lower letter).
        return end
    }

    /// BLOOM's word class: anything but whitespace and `(|.,!?…。，、।۔،)`.
    private func isBloomWordCharacter(_ i: Int) -> Bool {
        guard let c = scalar(i), !classes[i].isWhitespace else { return false }
        switch c {
        case 0x28, 0x7C, 0x2E, 0x2C, 0x21, 0x3F, 0x29, 0x2026, 0x3002, 0xFF0C, 0x3001, 0x0964, 0x06D4, 0x060C:
            return false
        default:
            return true
        }
    }

    mutating func bloom(into words: inout [Range<Int>]) {
        var pos = span.lowerBound
        while pos < span.upperBound {
            let matchStart: Int
            if scalars[pos] == Self.space && isBloomWordCharacter(pos + 1) {
                matchStart = pos
            } else if isBloomWordCharacter(pos) {
                matchStart = pos
            } else {
                pos += 1  // unmatched text stays in the gap word
                continue
            }
            cut(at: matchStart, into: &words)  // the gap before the match, if any
            pos = matchStart + 1
            while isBloomWordCharacter(pos) { pos += 1 }
            cut(at: pos, into: &words)
        }
        cut(at: span.upperBound, into: &words)
    }
}
