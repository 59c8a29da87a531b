import Foundation

#if canImport(Glibc)
    import Glibc
#endif
import Synchronization

/// A write to a file on this machine that failed — a full disk, most often: names the
/// file and why (`disk full writing /…/cmp001.out: No space left on device`).
///
/// Ferry never writes with `FileHandle.write(_:)`, which traps on such an error (the
/// process ends with SIGILL): every write goes through ``PrivateFile`` or another
/// throwing API and ends here.
public struct LocalWriteError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    /// No space (ENOSPC), or the user's quota (EDQUOT), or SQLite's SQLITE_FULL.
    public let diskFull: Bool

    public init(path: String, reason: String, diskFull: Bool) {
        self.path = path
        self.reason = reason
        self.diskFull = diskFull
    }

    /// From a failed system call's `errno`.
    public init(path: String, errno code: Int32) {
        self.init(path: path, reason: String(cString: strerror(code)), diskFull: code == ENOSPC || code == EDQUOT)
    }

    public var description: String { "\(diskFull ? "disk full writing" : "cannot write") \(path): \(reason)" }
}

/// The first local write that failed during a run. A full disk stops the run: no new
/// host starts (its output would be lost too), and the step fails however many hosts
/// `max_fail` allows, even when the runbook caught the error; the run stays resumable.
public final class LocalWriteFailures: Sendable {
    private let first = Mutex<LocalWriteError?>(nil)

    public init() {}

    public func record(_ error: LocalWriteError) {
        first.withLock { if $0 == nil { $0 = error } }
    }

    public var failure: LocalWriteError? { first.withLock { $0 } }
}

/// A file opened for appending with plain `write(2)`: each write either goes in whole or
/// throws ``LocalWriteError`` (ENOSPC included), never traps.
public final class PrivateFile: Sendable {
    public let path: String
    private let descriptor: Mutex<Int32>

    /// Opens `path` for appending, created 0600 (and its directories 0700) if missing.
    public init(appendingTo path: String) throws {
        self.path = path
        try PrivateFiles.makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, PrivateFiles.fileMode)
        guard fd >= 0 else { throw LocalWriteError(path: path, errno: errno) }
        fchmod(fd, PrivateFiles.fileMode)
        descriptor = Mutex(fd)
    }

    deinit { close() }

    public func write(_ data: Data) throws {
        try descriptor.withLock { fd in
            guard fd >= 0 else { throw LocalWriteError(path: path, reason: "the file is closed", diskFull: false) }
            try PrivateFiles.writeAll(fd, data, path: path)
        }
    }

    /// Empties the file (the next write starts it again).
    public func truncate() throws {
        try descriptor.withLock { fd in
            if fd >= 0, ftruncate(fd, 0) != 0 { throw LocalWriteError(path: path, errno: errno) }
        }
    }

    public func close() {
        descriptor.withLock { fd in
            if fd >= 0 { Glibc.close(fd) }
            fd = -1
        }
    }
}

extension PrivateFiles {
    /// Writes all of `data` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard var base = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let n = Glibc.write(fd, base, left)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LocalWriteError(path: path, errno: errno)
                }
                // A write of zero bytes to a regular file means no room for more.
                if n == 0 { throw LocalWriteError(path: path, errno: ENOSPC) }
                left -= n
                base += n
            }
        }
    }
}
