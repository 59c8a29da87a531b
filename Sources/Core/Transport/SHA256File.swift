import Crypto
import Foundation
import Synchronization

public enum SHA256File {
    /// The hex SHA-256 of a file, read in 1 MiB chunks (blocks the calling thread).
    public static func hex(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TransportError(.transfer, host: "local", "cannot read \(path)")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// The same, computed off Swift's cooperative pool and once per version of the file
    /// (path, size, modification time): a virtualenv shipped to 2,000 hosts is read and
    /// hashed once, while the pool's threads keep serving every host's task.
    static func digest(_ path: String) async throws -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let size = attributes?[.size] as? Int ?? -1
        let modified = (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let key = "\(path)|\(size)|\(modified)"
        let task = known.withLock { known -> Task<String, any Error> in
            if let running = known[key] { return running }
            let made = Task { try await Blocking.run { try hex(path) } }
            known[key] = made
            return made
        }
        do {
            return try await task.value
        } catch {
            _ = known.withLock { $0.removeValue(forKey: key) }
            throw error
        }
    }

    private static let known = Mutex<[String: Task<String, any Error>]>([:])
}

/// Work that blocks a thread (reading and hashing a large file) runs on a dispatch queue
/// of its own, not on Swift's cooperative pool, whose few threads carry every host's task.
enum Blocking {
    private static let queue = DispatchQueue(label: "ferry.blocking", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
