import PetalsModel
import XCTest

final class ChatTemplateTests: XCTestCase {
    /// SmolLM2-135M-Instruct's template, verbatim from its GGUF metadata.
    static let smolLM2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"

    func testInsertsTheTemplatesDefaultSystemPromptWhenTheChatHasNone() throws {
        let template = try ChatTemplate(template: Self.smolLM2)
        let prompt = template.render([ChatMessage(role: "user", content: "What is 2+2?")])
        XCTAssertEqual(prompt, """
            <|im_start|>system
            You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
            <|im_start|>user
            What is 2+2?<|im_end|>
            <|im_start|>assistant

            """)
    }

    func testKeepsAnExplicitSystemMessageAndAllTurns() throws {
        let template = try ChatTemplate(template: Self.smolLM2)
        let prompt = template.render([
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "Hi"),
            ChatMessage(role: "assistant", content: "Hello."),
            ChatMessage(role: "user", content: "Bye"),
        ], addGenerationPrompt: false)
        XCTAssertEqual(prompt, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            + "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n")
    }

    func testUnknownTemplatesAreRefusedWithAReason() {
        XCTAssertThrowsError(try ChatTemplate(template: "{{ bos_token }}[INST] {{ content }} [/INST]")) {
            XCTAssertTrue("\($0)".contains("ChatML"))
        }
        XCTAssertThrowsError(try ChatTemplate(template: nil)) { XCTAssertTrue("\($0)".contains("no chat template")) }
    }
}
