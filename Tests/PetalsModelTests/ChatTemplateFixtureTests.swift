import Foundation
import PetalsModel
import XCTest

/// Every template in Tests/Fixtures/chat_templates, rendered for varied chats, must equal
/// Python jinja2's rendering in Hugging Face's environment (renderings.json, made by
/// scripts/reference/make_chat_template_fixtures.sh).
final class ChatTemplateFixtureTests: XCTestCase {
    private struct Case: Decodable {
        let template: String
        let chat: String
        let add_generation_prompt: Bool
        let bos_token: String
        let eos_token: String
        let messages: [ChatMessage]
        let output: String?
        let error: String?
    }

    private struct Renderings: Decodable {
        let now: String
        let cases: [Case]
    }

    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/chat_templates")

    static func template(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
    }

    func testEveryTemplateRendersEveryChatAsJinja2Does() throws {
        let data = try Data(contentsOf: Self.directory.appendingPathComponent("renderings.json"))
        let renderings = try JSONDecoder().decode(Renderings.self, from: data)
        let now = try XCTUnwrap(ISO8601DateFormatter().date(from: renderings.now))
        XCTAssertGreaterThanOrEqual(renderings.cases.count, 100)
        var templates = Set<String>()
        for c in renderings.cases {
            templates.insert(c.template)
            let label = "\(c.template) / \(c.chat) / add_generation_prompt \(c.add_generation_prompt)"
            let template = try ChatTemplate(template: try Self.template(c.template), bosToken: c.bos_token,
                                            eosToken: c.eos_token, now: { now })
            if let expected = c.output {
                let rendered = try template.render(c.messages, addGenerationPrompt: c.add_generation_prompt)
                XCTAssertEqual(rendered.text, expected, label)
                assertContentIsMarked(rendered, c.messages, label)
            } else {
                let expected = try XCTUnwrap(c.error, label)
                XCTAssertThrowsError(try template.render(c.messages, addGenerationPrompt: c.add_generation_prompt), label) {
                    XCTAssertTrue("\($0)".contains(expected), "\(label): \($0)")
                }
            }
        }
        for family in ["smollm2", "gemma3", "qwen2.5-instruct", "qwen3", "llama3-instruct", "llama3.1-instruct",
                       "mistral-7b-instruct-v0.2", "mistral-nemo-instruct"] {
            XCTAssertTrue(templates.contains(family + ".jinja"), "no renderings of \(family)")
        }
    }

    /// Marked ranges are in bounds and ordered, and every special-token text a user wrote lies
    /// inside them (so the tokenizer reads it as text).
    private func assertContentIsMarked(_ prompt: PromptText, _ messages: [ChatMessage], _ label: String) {
        let bytes = Array(prompt.text.utf8)
        var previousEnd = 0
        for range in prompt.literalRanges {
            XCTAssertTrue(range.lowerBound >= previousEnd && range.lowerBound < range.upperBound
                          && range.upperBound <= bytes.count, "\(label): bad range \(range)")
            previousEnd = range.upperBound
        }
        for marker in ["<|im_start|>", "<|im_end|>", "<start_of_turn>", "<|eot_id|>", "[INST]"] {
            let needle = Array(marker.utf8)
            let typed = messages.map { $0.content.components(separatedBy: marker).count - 1 }.reduce(0, +)
            guard typed > 0 else { continue }
            var marked = 0
            var searchStart = 0
            while let found = Self.find(needle, in: bytes, from: searchStart) {
                if prompt.literalRanges.contains(where: { $0.lowerBound <= found && found + needle.count <= $0.upperBound }) {
                    marked += 1
                }
                searchStart = found + 1
            }
            XCTAssertGreaterThanOrEqual(marked, typed, "\(label): '\(marker)' typed by the user is not marked as text")
        }
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = start
        while i + needle.count <= haystack.count {
            if haystack[i..<i + needle.count].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
