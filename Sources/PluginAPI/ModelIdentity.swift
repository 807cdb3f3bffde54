import Foundation

/// The model id a node announces to the Plumise network: a Hugging Face id such as
/// "HuggingFaceTB/SmolLM2-135M-Instruct" (what plumise-oracle's MODEL_LAYERS, the gateway's
/// `model` and the Python node's modelHash use), derived from what a model file says of itself.
public enum ModelIdentity {
    /// The id for a model whose metadata gives `repoURL` (e.g. GGUF `general.repo_url`) and
    /// `organization`, stored in `fileName`:
    /// 1. a Hugging Face repository URL gives its `owner/name`;
    /// 2. else the file name without extension and quantization suffix, behind `organization/`
    ///    when there is one ("SmolLM2-135M-Instruct.Q4_1.gguf" of HuggingFaceTB →
    ///    "HuggingFaceTB/SmolLM2-135M-Instruct").
    public static func derive(repoURL: String?, organization: String?, fileName: String) -> String {
        if let repoURL, let id = huggingFaceID(fromURL: repoURL) { return id }
        let stem = modelStem(fileName: fileName)
        if let organization = organization?.trimmingCharacters(in: .whitespaces), !organization.isEmpty,
           !organization.contains("/"), !organization.contains(where: \.isWhitespace) {
            return organization + "/" + stem
        }
        return stem
    }

    /// "https://huggingface.co/Org/Name(/tree/…)" → "Org/Name"; nil for other URLs.
    public static func huggingFaceID(fromURL text: String) -> String? {
        guard let url = URL(string: text.trimmingCharacters(in: .whitespaces)),
              let host = url.host?.lowercased(), ["huggingface.co", "www.huggingface.co", "hf.co"].contains(host)
        else { return nil }
        let parts = url.path.split(separator: "/").map(String.init)
        guard parts.count >= 2 else { return nil }
        return parts[0] + "/" + parts[1]
    }

    /// The file name without ".gguf"/".safetensors" and a trailing quantization label
    /// (Q4_1, Q4_K_M, IQ4_XS, F16, BF16, f32, …) separated by '.', '-' or '_'.
    public static func modelStem(fileName: String) -> String {
        var stem = (fileName as NSString).lastPathComponent
        for ext in [".gguf", ".safetensors", ".bin"] where stem.lowercased().hasSuffix(ext) {
            stem = String(stem.dropLast(ext.count))
        }
        let label = #"[.\-_](?i:(?:I?Q[0-9](?:_[0-9A-Z]+)*)|(?:B?F(?:16|32))|(?:f16|f32|bf16))$"#
        if let range = stem.range(of: label, options: .regularExpression), range.lowerBound > stem.startIndex {
            stem = String(stem[..<range.lowerBound])
        }
        return stem.isEmpty ? fileName : stem
    }
}
