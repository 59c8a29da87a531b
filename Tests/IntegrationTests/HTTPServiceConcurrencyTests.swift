import FerryCore
import Foundation
import Testing

/// HTTPService.shared keeps one AsyncHTTPClient per TLS setting for the process.
@Suite struct HTTPServiceConcurrencyTests {
    /// Concurrent first requests with the same TLS setting (here: a CA file no request used
    /// before) must share one client. When the lookup and the insert took two locks, racing
    /// callers each made one and the one overwritten was released without shutdown(): a
    /// debug build trapped in HTTPClient.deinit and the whole test process died (seen when
    /// CatalogTests and BrokerTests started together).
    @Test func concurrentFirstRequestsShareOneClient() async throws {
        let ca = NSTemporaryDirectory() + "ferry-race-\(UUID().uuidString).pem"
        try "".write(toFile: ca, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<16 {
                group.addTask { try await HTTPService.shared.request(method: "GET", url: "http://127.0.0.1:25000/v3", caFile: ca).status }
            }
            var out: [Int] = []
            for try await s in group { out.append(s) }
            return out
        }
        #expect(statuses == Array(repeating: 200, count: 16), "\(statuses)")
    }
}
