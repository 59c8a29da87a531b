import Foundation

/// Files Ferry writes hold what a run saw (command output, `ctx.state`, database dumps,
/// the simulated model): they are created readable by their owner only (0600) in
/// directories only their owner can enter (0700), whatever the umask.
public enum PrivateFiles {
    public static let fileMode: mode_t = 0o600
    public static let directoryMode: mode_t = 0o700

    /// Creates `path` and its missing parents as 0700 directories. Directories that exist
    /// already are left as they are (`--journal /tmp/j.db` must not change /tmp).
    public static func makeDirectory(_ path: String) throws {
        var missing: [String] = []
        var url = URL(fileURLWithPath: path).standardizedFileURL
        while !FileManager.default.fileExists(atPath: url.path) {
            missing.append(url.path)
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        for dir in missing.reversed() {
            if mkdir(dir, directoryMode) != 0 && errno != EEXIST {
                throw FerryError.failed("cannot create directory \(dir): \(String(cString: strerror(errno)))")
            }
            // mkdir's mode is filtered by the umask; this is not.
            chmod(dir, directoryMode)
        }
    }

    /// Creates `path` (and its directory) as an empty 0600 file if it does not exist, and
    /// makes an existing one 0600. Returns whether the file is there.
    @discardableResult
    public static func create(_ path: String) -> Bool {
        try? makeDirectory(URL(fileURLWithPath: path).deletingLastPathComponent().path)
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, fileMode)
        guard fd >= 0 else { return false }
        fchmod(fd, fileMode)
        close(fd)
        return true
    }

    /// Writes `data` to `path` atomically (a 0600 temporary file beside it, renamed over it).
    /// A full disk throws ``LocalWriteError`` and leaves the file as it was.
    public static func write(_ data: Data, to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try makeDirectory(directory)
        let temporary = "\(directory)/.\(URL(fileURLWithPath: path).lastPathComponent).\(UUID().uuidString).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw LocalWriteError(path: path, errno: errno) }
        fchmod(fd, fileMode)
        var failure: (any Error)?
        do { try writeAll(fd, data, path: path) } catch { failure = error }
        // tmpfs and others may report a full disk only when the data is flushed.
        if failure == nil, fsync(fd) != 0 { failure = LocalWriteError(path: path, errno: errno) }
        if close(fd) != 0, failure == nil { failure = LocalWriteError(path: path, errno: errno) }
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, path) == 0 else {
            let failure = LocalWriteError(path: path, errno: errno)
            unlink(temporary)
            throw failure
        }
    }
}
