import Foundation

/// Tells the user a model is still loading: after the first second, a line every second with
/// the file, its size and the time so far, then how long it took.
public enum ModelLoadProgress {
    public static func around<T>(_ path: String, report: @escaping @Sendable (String) -> Void,
                                 _ body: () throws -> T) rethrows -> T {
        let name = (path as NSString).lastPathComponent
        let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        let size = bytes.map { String(format: " (%.0f MB)", Double($0) / 1e6) } ?? ""
        let start = DispatchTime.now().uptimeNanoseconds
        func seconds() -> Double { Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 }
        let timer = DispatchSource.makeTimerSource(queue: .global(qos: .utility))
        timer.schedule(deadline: .now() + 1, repeating: 1)
        timer.setEventHandler { report(String(format: "loading %@%@: %.0f s", name, size, seconds())) }
        timer.resume()
        defer {
            timer.cancel()
            if seconds() >= 1 { report(String(format: "loaded %@%@ in %.1f s", name, size, seconds())) }
        }
        return try body()
    }
}
