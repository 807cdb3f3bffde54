import Foundation

/// Runs body(0) ... body(count - 1) at once, one thread each, and waits for all of them.
/// (DispatchQueue.concurrentPerform would run only as many at once as there are cores, so a
/// test of "16 concurrent clients" would see two.)
/// The callers' closures share state under their own locks, as with concurrentPerform.
public func runConcurrently(_ count: Int, _ body: @escaping (Int) -> Void) {
    nonisolated(unsafe) let body = body
    let group = DispatchGroup()
    for i in 0..<count {
        group.enter()
        Thread.detachNewThread {
            defer { group.leave() }
            body(i)
        }
    }
    group.wait()
}
