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

    /// Opens `path` for appending, created 0600 if missing.
    public static func openForAppend(_ path: String) -> FileHandle? {
        guard create(path) else { return nil }
        guard let handle = FileHandle(forWritingAtPath: path) else { return nil }
        handle.seekToEndOfFile()
        return handle
    }

    /// Writes `data` to `path` atomically (a 0600 temporary file beside it, renamed over it).
    public static func write(_ data: Data, to path: String) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try makeDirectory(directory)
        let temporary = "\(directory)/.\(URL(fileURLWithPath: path).lastPathComponent).\(UUID().uuidString).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, fileMode)
        guard fd >= 0 else { throw FerryError.failed("cannot write \(path): \(String(cString: strerror(errno)))") }
        fchmod(fd, fileMode)
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            unlink(temporary)
            throw FerryError.failed("cannot write \(path): \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FerryError.failed("cannot write \(path): \(reason)")
        }
    }
}
