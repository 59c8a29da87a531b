import Foundation

/// Why a journal file cannot be written, in words.
enum JournalFile {
    /// nil when this process can write the journal (and the -wal and -shm files SQLite
    /// keeps beside it); else the reason.
    static func whyNotWritable(_ path: String) -> String? {
        let url = URL(fileURLWithPath: path).standardizedFileURL
        let directory = url.deletingLastPathComponent().path
        let exists = FileManager.default.fileExists(atPath: url.path)
        // The nearest part of the path that exists: the file, its directory, or one above.
        var probe = exists ? url.path : directory
        while !FileManager.default.fileExists(atPath: probe) && probe != "/" {
            probe = URL(fileURLWithPath: probe).deletingLastPathComponent().path
        }
        var fs = statvfs()
        if statvfs(probe, &fs) == 0 && (fs.f_flag & UInt(ST_RDONLY)) != 0 {
            return "it is on a read-only file system"
        }
        if exists && access(url.path, W_OK) != 0 {
            return "the file is read-only for this user (mode \(mode(url.path)))"
        }
        if !FileManager.default.fileExists(atPath: directory) {
            return access(probe, W_OK) != 0 ? "its directory \(directory) does not exist and \(probe) is not writable for this user" : nil
        }
        // SQLite creates (and at the end deletes) NAME-wal and NAME-shm beside the journal.
        let beside = [url.path + "-wal", url.path + "-shm"]
        if access(directory, W_OK) != 0 && !beside.allSatisfy({ access($0, W_OK) == 0 }) {
            return "its directory \(directory) is not writable for this user (mode \(mode(directory))), and SQLite must create \(url.lastPathComponent)-wal and \(url.lastPathComponent)-shm beside it"
        }
        return nil
    }

    static func mode(_ path: String) -> String {
        var st = stat()
        guard stat(path, &st) == 0 else { return "unknown" }
        return "0" + String(st.st_mode & 0o7777, radix: 8)
    }

    /// `file:/abs/path?immutable=1`: the journal read as a file nothing changes (no
    /// locks, no -shm). Only for a journal nobody can write from here.
    static func immutableURI(_ path: String) -> String? {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        guard let encoded = absolute.addingPercentEncoding(withAllowedCharacters: allowed) else { return nil }
        return "file:\(encoded)?immutable=1"
    }
}
