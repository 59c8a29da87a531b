import FerryCore
import Foundation
import FerryTestSupport
import LuaBridge
import Testing

/// `db.backup` / `db.restore` hand the password to mysqldump and mysql in an option file:
/// one with `#`, quotes, a backslash, spaces and a newline must still work (MySQL option
/// file quoting), and a restore killed midway leaves no option file behind for long.
@Suite struct BackupPasswordTests {
    static let password = "p#a\"s's\\w ord\nline2 #end"

    @Test func aPasswordWithOptionFileMetacharactersBacksUpAndRestores() async throws {
        let user = "ferry_pw_\(UInt32.random(in: 0..<UInt32.max))"
        let sqlPassword = Self.password.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            .replacingOccurrences(of: "\n", with: "\\n")
        let admin = "--defaults-file=\(TestEnvironment.testenv)/mariadb/client.cnf"
        let sqlFile = try TestEnvironment.directory() + "/create-user.sql"
        try "CREATE USER '\(user)'@'127.0.0.1' IDENTIFIED BY '\(sqlPassword)'; GRANT ALL ON *.* TO '\(user)'@'127.0.0.1';\n"
            .write(toFile: sqlFile, atomically: true, encoding: .utf8)
        let created = try shellOutput("mysql \(admin) < \(sqlFile) 2>&1; echo rc=$?")
        #expect(created.hasSuffix("rc=0\n"), "\(created)")
        defer { _ = try? shellOutput("mysql \(admin) -e \"DROP USER '\(user)'@'127.0.0.1'\"") }
        let dir = try TestEnvironment.directory()
        try Self.password.write(toFile: dir + "/weird-password", atomically: true, encoding: .utf8)
        let table = "ferry_pw_\(UInt32.random(in: 0..<UInt32.max))"
        let r = try await LabRun(runbook: """
            runbook { name = "weird-password" }
            step "backup" { run = function(ctx)
              local c = db.connect("weird")
              c:exec("CREATE TABLE \(table) (id INT PRIMARY KEY, v VARCHAR(20))")
              c:exec("INSERT INTO \(table) VALUES (1, 'before')")
              c:close()
              ctx.state.dump = db.backup("weird")
              c = db.connect("weird")
              c:exec("UPDATE \(table) SET v = 'after' WHERE id = 1")
              c:close()
              db.restore(ctx.state.dump, { force = true })
              c = db.connect("weird")
              ctx.state.v = c:scalar("SELECT v FROM \(table) WHERE id = 1")
              c:exec("DROP TABLE \(table)")
              c:close()
            end }
            """, regionEdit: { lab in
                lab.replacingOccurrences(of: "\ndatabases:\n", with: """

                    databases:
                      weird: { host: 127.0.0.1, port: 23306, user: \(user), password: { file: \(dir)/weird-password }, database: cinder }

                    """)
            })
        let outcome = try await r.run()
        #expect(outcome.status == .succeeded, "\(outcome.message ?? "") \(outcome.failedHosts)")
        #expect(try await r.state(outcome)["v"] == "before")
    }

    @Test func optionValuesAreQuotedTheWayMySQLReadsThem() {
        #expect(DatabaseBackups.optionValue("plain") == "\"plain\"")
        #expect(DatabaseBackups.optionValue("a#b") == "\"a#b\"")
        #expect(DatabaseBackups.optionValue("q\"x\\y") == "\"q\\\"x\\\\y\"")
        #expect(DatabaseBackups.optionValue("l1\r\nl2\tz") == "\"l1\\r\\nl2\\tz\"")
    }
}

extension BackupPasswordTests {
    @Test func anOptionDirectoryOfADeadRestoreIsRemovedAndALiveOneKept() throws {
        let dir = try TestEnvironment.directory() + "/artifacts"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // pid 2^22+1 is above Linux's pid_max default: no such process.
        let dead = dir + "/.restore-4194305-\(UUID().uuidString)"
        let live = dir + "/.restore-1-\(UUID().uuidString)"
        for d in [dead, live] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: d + "/client.cnf", contents: Data("[client]\npassword=\"x\"\n".utf8))
        }
        DatabaseBackups.removeStaleOptionDirectories(in: dir)
        #expect(!FileManager.default.fileExists(atPath: dead))
        #expect(FileManager.default.fileExists(atPath: live), "pid 1 is alive")
    }
}
