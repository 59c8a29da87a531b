import Foundation
import LuaBridge

/// A database dump kept in the artifact store.
public struct DatabaseArtifact: Sendable {
    public var database: String
    public var path: String
    public var bytes: Int
    public var sha256: String
    public var at: Date
    public var source: String

    public var luaValue: LuaValue {
        ["db": .string(database), "path": .string(path), "bytes": .int(Int64(bytes)), "sha256": .string(sha256),
         "at": .string(ISO8601DateFormatter().string(from: at)), "source": .string(source)]
    }

    public init(_ value: LuaValue) throws {
        guard let db = value["db"].stringValue, let path = value["path"].stringValue, let sha = value["sha256"].stringValue,
            let bytes = value["bytes"].intValue
        else {
            throw LuaArgumentError("expected a backup artifact (the table db.backup returned: db, path, bytes, sha256)")
        }
        database = db
        self.path = path
        self.bytes = bytes
        sha256 = sha
        at = value["at"].stringValue.flatMap { ISO8601DateFormatter().date(from: $0) } ?? Date()
        source = value["source"].stringValue ?? "?"
    }

    public init(database: String, path: String, bytes: Int, sha256: String, at: Date, source: String) {
        self.database = database
        self.path = path
        self.bytes = bytes
        self.sha256 = sha256
        self.at = at
        self.source = source
    }
}

/// `mysqldump` backups, verification and restores. The password reaches the client
/// tools through an option file on their standard input or in a private file,
/// never on a command line, in a log or in the journal.
public struct DatabaseBackups: Sendable {
    public let driver: MariaDBDriver
    public let artifactDirectory: String
    public let transport: any Transport

    /// The last line of a complete dump (`db.verify` checks for it).
    public static let footer = "-- Dump completed"

    func clientOptions(_ e: DatabaseEndpoint) -> [String] {
        var args = ["--user=\(e.user)"]
        if let socket = e.socket { args.append("--socket=\(socket)") } else {
            args += ["--host=\(e.host ?? "127.0.0.1")", "--port=\(e.port)", "--protocol=TCP"]
        }
        return args
    }

    func optionFile(_ e: DatabaseEndpoint) -> String {
        "[client]\npassword=\(Self.optionValue(e.password ?? ""))\n"
    }

    /// A value as MySQL/MariaDB option files read it: in double quotes (so `#` is not a
    /// comment and spaces at the ends are kept), with `\\`, `\"`, newline, carriage return
    /// and tab escaped (mysys `my_default.c`: quotes removed, then `\n \t \r \b \s \" \' \\`).
    public static func optionValue(_ raw: String) -> String {
        var out = "\""
        // By scalar: "\r\n" is one Character and would slip past a Character switch.
        for c in raw.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out + "\""
    }

    /// Dumps a database, on this machine or on `via` (streamed back over the transport).
    public func backup(_ name: String, via: RegionHost?) async throws -> DatabaseArtifact {
        let e = try driver.endpoint(name)
        let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        try PrivateFiles.makeDirectory(artifactDirectory)
        let path = "\(artifactDirectory)/\(FileName.component(name))-\(stamp)-\(UInt16.random(in: 0..<UInt16.max)).sql"
        // --add-drop-database: a restore puts the database back exactly, dropping what came after.
        let dumpArgs = ["--single-transaction", "--routines", "--triggers", "--events", "--hex-blob", "--add-drop-database"]
            + clientOptions(e) + ["--databases", e.database ?? name]
        let started = Date()
        // Dumps hold data: readable by their owner only.
        PrivateFiles.create(path)
        let capture = OutputCapture(stdoutPath: path, tailBytes: 4096)
        let result: CommandResult
        if let via {
            // The option file goes in on stdin: the password never appears in a command line.
            let command = "mysqldump --defaults-extra-file=/dev/stdin " + dumpArgs.map(ShellQuote.quote).joined(separator: " ")
            result = try await transport.run(HostCommand(command, stdin: Data(optionFile(e).utf8)), on: via, output: capture)
        } else {
            do {
                result = try await ProcessRunner.run(
                    "/usr/bin/mysqldump", ["--defaults-extra-file=/dev/stdin"] + dumpArgs, stdin: Data(optionFile(e).utf8),
                    output: capture, timeout: nil)
            } catch ProcessRunner.Failure.launch(let m) {
                throw DatabaseError(database: name, code: 0, message: "cannot run mysqldump here (install mariadb-client): \(m)")
            }
        }
        if let failure = capture.writeFailure {
            // A partial dump restores nothing: it goes, and the full disk is what is reported.
            try? FileManager.default.removeItem(atPath: path)
            throw failure
        }
        guard result.exitCode == 0 else {
            try? FileManager.default.removeItem(atPath: path)
            throw DatabaseError(database: name, code: 0, message: "mysqldump failed on \(via?.name ?? "this machine"): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        let (bytes, sha) = try await Blocking.run { try Self.measure(path) }
        guard try await Blocking.run({ try Self.hasFooter(path) }) else {
            try? FileManager.default.removeItem(atPath: path)
            throw DatabaseError(database: name, code: 0, message: "the dump was incomplete (no '\(Self.footer)' line); removed it")
        }
        return DatabaseArtifact(database: name, path: path, bytes: bytes, sha256: sha, at: started, source: via.map { "mysqldump on \($0.name)" } ?? "mysqldump on this machine")
    }

    /// Removes the option directories of restores whose process is gone (killed mid-restore).
    public static func removeStaleOptionDirectories(in directory: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where name.hasPrefix(".restore-") {
            let pid = name.dropFirst(".restore-".count).split(separator: "-").first.flatMap { Int32($0) }
            if let pid, pid != getpid(), kill(pid, 0) == 0 || errno == EPERM { continue }
            if pid == getpid() { continue }
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
    }

    /// A dump's size in bytes and its hex SHA-256.
    public static func measure(_ path: String) throws -> (Int, String) {
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return (bytes, try SHA256File.hex(path))
    }

    static func hasFooter(_ path: String) throws -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        let end = try h.seekToEnd()
        try h.seek(toOffset: end > 512 ? end - 512 : 0)
        let tail = String(decoding: try h.readToEnd() ?? Data(), as: UTF8.self)
        return tail.contains(footer)
    }

    /// Checks that an artifact is still what was written: size, checksum, complete dump
    /// (read off the cooperative pool: a dump can be gigabytes).
    public func verify(_ artifact: DatabaseArtifact) async throws {
        try await Blocking.run { try Self.check(artifact) }
    }

    static func check(_ artifact: DatabaseArtifact) throws {
        guard FileManager.default.fileExists(atPath: artifact.path) else {
            throw DatabaseError(database: artifact.database, code: 0, message: "backup \(artifact.path) is missing")
        }
        let (bytes, sha) = try Self.measure(artifact.path)
        guard bytes == artifact.bytes, sha == artifact.sha256 else {
            throw DatabaseError(database: artifact.database, code: 0,
                                message: "backup \(artifact.path) changed since it was taken (\(bytes) bytes, sha256 \(sha.prefix(12))…; expected \(artifact.bytes), \(artifact.sha256.prefix(12))…)")
        }
        guard try Self.hasFooter(artifact.path) else {
            throw DatabaseError(database: artifact.database, code: 0, message: "backup \(artifact.path) is incomplete")
        }
    }

    /// Restores a dump, on this machine or on `via` (the dump is uploaded there, checked, fed to
    /// `mysql` and removed). Refuses while other sessions use the database (listing them) unless
    /// `force`; waits at most `lockWait` seconds for metadata locks either way.
    public func restore(_ artifact: DatabaseArtifact, force: Bool, lockWait: Int = 10, via: RegionHost? = nil) async throws {
        try await verify(artifact)
        let e = try driver.endpoint(artifact.database)
        // Through the driver: a database reached through an SSH host is asked the same way.
        let conn = try await driver.connect(artifact.database)
        let holders = try await conn.query(
            "SELECT ID, USER, HOST, COMMAND, TIME FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
            [.string(e.database ?? artifact.database)])
        await conn.close()
        if !holders.rows.isEmpty && !force {
            let list = holders.rows.prefix(8).map {
                "id \($0["ID"]?.stringValue ?? "?") \($0["USER"]?.stringValue ?? "?")@\($0["HOST"]?.stringValue ?? "?") (\($0["COMMAND"]?.stringValue ?? "?") \($0["TIME"]?.stringValue ?? "?")s)"
            }.joined(separator: ", ")
            throw DatabaseError(
                database: artifact.database, code: 0,
                message: "refusing to restore while \(holders.rows.count) connection(s) use it: \(list). Stop the services that hold them, or restore with { force = true } (it still gives up after \(lockWait)s of lock waits)")
        }
        let options = optionFile(e) + "init-command=SET SESSION lock_wait_timeout=\(lockWait)\n"
        let capture = OutputCapture(tailBytes: 8192)
        let result: CommandResult
        if let via {
            // The dump travels by the transport's checked upload; the option file (password) goes
            // in on stdin, so it is never written on the host nor seen on a command line.
            let remote = "/tmp/ferry-restore-\(UUID().uuidString).sql"
            try await transport.put(file: artifact.path, to: remote, mode: 0o600, on: via)
            let args = (["--defaults-extra-file=/dev/stdin"] + clientOptions(e)).map(ShellQuote.quote).joined(separator: " ")
            let command = "mysql \(args) -e \(ShellQuote.quote("source \(remote)")); rc=$?; rm -f \(ShellQuote.quote(remote)); exit $rc"
            result = try await transport.run(HostCommand(command, stdin: Data(options.utf8)), on: via, output: capture)
        } else {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/mysql") else {
                throw DatabaseError(database: artifact.database, code: 0, message: "cannot restore: no /usr/bin/mysql on this machine (install mariadb-client)")
            }
            // The option file (password, lock timeout) is private to this restore, in the run's
            // own artifact directory (0700), and a killed restore's is removed by the next one.
            Self.removeStaleOptionDirectories(in: artifactDirectory)
            try FileManager.default.createDirectory(atPath: artifactDirectory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let dir = artifactDirectory + "/.restore-\(getpid())-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let optionPath = dir + "/client.cnf"
            // Throws on a full disk (createFile would only return false, and mysql would then
            // fail to log in without saying why).
            try PrivateFiles.write(Data(options.utf8), to: optionPath)
            do {
                result = try await ProcessRunner.run(
                    "/bin/sh", ["-c", "f=$1; shift; exec \"$@\" < \"$f\"", "sh", artifact.path, "/usr/bin/mysql",
                                "--defaults-extra-file=\(optionPath)"] + clientOptions(e),
                    stdin: nil, output: capture, timeout: nil)
            } catch ProcessRunner.Failure.launch(let m) {
                throw DatabaseError(database: artifact.database, code: 0, message: "cannot run mysql here (install mariadb-client): \(m)")
            }
        }
        guard result.exitCode == 0 else {
            throw DatabaseError(database: artifact.database, code: 0,
                                message: "restore of \(artifact.path) failed on \(via?.name ?? "this machine"): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
    }
}
