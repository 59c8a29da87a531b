import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// Writes to a disk that is full, for real: a small tmpfs (issue 11 item 10). Each fails
/// with `disk full writing PATH: No space left on device` instead of trapping.
@Suite(.enabled(if: Tmpfs.unavailable == nil, Comment(rawValue: Tmpfs.unavailable ?? "")))
struct DiskFullTests {
    static func withFullDisk(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "ferry-full-" + UUID().uuidString
        try Tmpfs.mount(at: dir, size: "64k")
        defer {
            Tmpfs.unmount(dir)
            try? FileManager.default.removeItem(atPath: dir)
        }
        try body(dir)
    }

    @Test func atomicWriteOnAFullDiskThrowsAndKeepsTheFileItReplaces() throws {
        try Self.withFullDisk { dir in
            let path = dir + "/model.json"
            try PrivateFiles.write(Data("old".utf8), to: path)
            let failure = #expect(throws: LocalWriteError.self) {
                try PrivateFiles.write(Data(repeating: 0x41, count: 200_000), to: path)
            }
            #expect(failure?.diskFull == true)
            #expect(failure?.description == "disk full writing \(path): No space left on device")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == "old")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["model.json"], "no temporary file left")
        }
    }

    @Test func outputCaptureOnAFullDiskKeepsTheFailureAndTheTail() throws {
        try Self.withFullDisk { dir in
            let path = dir + "/runs/000-step/cmp001.out"
            let capture = OutputCapture(stdoutPath: path, header: "### header\n", tailBytes: 100)
            let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 16 * 1024)
            for _ in 0..<8 { chunk.withUnsafeBytes { capture.append(stdout: $0) } }
            Data("last line\n".utf8).withUnsafeBytes { capture.append(stdout: $0) }
            capture.finish()
            #expect(capture.writeFailure?.description == "disk full writing \(path): No space left on device")
            #expect(throws: LocalWriteError.self) { try capture.checkWrites() }
            #expect(capture.stdout.hasSuffix("last line\n"), "the tail is kept whatever the disk")
            #expect(capture.byteCounts.stdout == 8 * 16 * 1024 + 10)
        }
    }

    @Test func appendingToAFullDiskThrows() throws {
        try Self.withFullDisk { dir in
            let file = try PrivateFile(appendingTo: dir + "/sim.json.log")
            defer { file.close() }
            #expect(throws: LocalWriteError.self) {
                for _ in 0..<100 { try file.write(Data(repeating: 0x41, count: 4096)) }
            }
        }
    }
}
