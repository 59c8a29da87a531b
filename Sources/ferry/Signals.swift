import Dispatch
import Foundation
import Synchronization

/// Ctrl-C and SIGTERM for the whole process.
///
/// The signals are blocked in every thread from the start (threads made later inherit
/// the mask) and read by one dispatch source on a queue of its own. Were a thread
/// left unblocked (NIO's event loop threads, say), the kernel could hand it an ignored
/// signal, which is then lost: a run went on to the end after Ctrl-C.
/// While a run is going, a signal cancels it (a clean, resumable stop); otherwise the
/// command ends with status 130.
enum Signals {
    private static let current = Mutex<(@Sendable () -> Void)?>(nil)
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    /// Call first thing in `main`, before any thread is started.
    static func install() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let queue = DispatchQueue(label: "ferry.signals")
        sources = [SIGINT, SIGTERM].map { sig in
            let source = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            source.setEventHandler {
                if let handler = current.withLock({ $0 }) {
                    handler()
                } else {
                    Console.error("\nferry: interrupted")
                    for cleanup in beforeExit.withLock({ Array($0.values) }) { cleanup() }
                    exit(130)
                }
            }
            source.resume()
            return source
        }
    }

    private static let beforeExit = Mutex<[UInt64: @Sendable () -> Void]>([:])
    private static let nextCleanup = Atomic<UInt64>(0)

    /// Runs `body` with `cleanup` run first should a signal end the process while it runs
    /// (outside ``whileRunning(_:_:)``, where a signal stops the work instead).
    static func cleaningUp<T>(_ cleanup: @escaping @Sendable () -> Void, _ body: () async throws -> T) async rethrows -> T {
        let key = nextCleanup.add(1, ordering: .relaxed).newValue
        beforeExit.withLock { $0[key] = cleanup }
        defer { _ = beforeExit.withLock { $0.removeValue(forKey: key) } }
        return try await body()
    }

    /// Runs `body` with `handler` called on a signal instead of exiting.
    static func whileRunning<T>(_ handler: @escaping @Sendable () -> Void, _ body: () async throws -> T) async rethrows -> T {
        current.withLock { $0 = handler }
        defer { current.withLock { $0 = nil } }
        return try await body()
    }
}
