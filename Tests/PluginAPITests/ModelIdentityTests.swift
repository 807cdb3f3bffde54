import PluginAPI
import XCTest

/// The model id the network hashes and routes by (plumise-oracle's MODEL_LAYERS keys and the
/// Python node's modelHash use Hugging Face ids), derived from what a file says of itself.
final class ModelIdentityTests: XCTestCase {
    func testAHuggingFaceRepositoryURLGivesItsID() {
        XCTAssertEqual(ModelIdentity.derive(repoURL: "https://huggingface.co/Qwen/Qwen3-32B", organization: "Qwen", fileName: "x.gguf"),
                       "Qwen/Qwen3-32B")
        XCTAssertEqual(ModelIdentity.huggingFaceID(fromURL: "https://huggingface.co/google/gemma-3-270m/tree/main"), "google/gemma-3-270m")
        XCTAssertNil(ModelIdentity.huggingFaceID(fromURL: "https://example.com/Qwen/Qwen3-32B"))
    }

    func testOtherwiseTheOrganizationAndTheFileNameWithoutItsQuantization() {
        XCTAssertEqual(ModelIdentity.derive(repoURL: nil, organization: "HuggingFaceTB", fileName: "models/SmolLM2-135M-Instruct.Q4_1.gguf"),
                       "HuggingFaceTB/SmolLM2-135M-Instruct")
        XCTAssertEqual(ModelIdentity.modelStem(fileName: "gemma-3-270m-q4_k_m.gguf"), "gemma-3-270m")
        XCTAssertEqual(ModelIdentity.modelStem(fileName: "smol.IQ4_XS.gguf"), "smol")
        XCTAssertEqual(ModelIdentity.modelStem(fileName: "SmolLM2-135M-Instruct-dequantized.f32.gguf"), "SmolLM2-135M-Instruct-dequantized")
        XCTAssertEqual(ModelIdentity.derive(repoURL: nil, organization: nil, fileName: "/m/llama-3.1-8b.BF16.gguf"), "llama-3.1-8b")
        XCTAssertEqual(ModelIdentity.derive(repoURL: nil, organization: "Some Org", fileName: "a.gguf"), "a", "not an id part")
    }
}
