import Foundation
import LuaBridge

/// The natives behind `db.connect(name)` and its connection objects.
enum DatabaseAPI {
    static func natives(_ box: RuntimeBox) -> [LuaFunction] {
        [
            LuaFunction("__native.db_connect") { call in
                let env = try box.require("db.connect")
                let name = try call.string(1)
                guard let driver = env.databases else { throw LuaArgumentError("db.connect: this region has no database driver") }
                let resources = env.resources
                return .yield {
                    let session = try await driver.connect(name)
                    return [.int(Int64(resources.add(session)))]
                }
            },
            LuaFunction("__native.db_query") { call in
                let (session, sql, parameters) = try statement(box, call)
                if dryRunSkips(box, call, sql) { return .value(.array([])) }
                return .yield {
                    let result = try await session.query(sql, parameters)
                    return [.array(result.rows.map { .map($0) })]
                }
            },
            LuaFunction("__native.db_exec") { call in
                let (session, sql, parameters) = try statement(box, call)
                if dryRunSkips(box, call, sql, always: true) { return .value(0) }
                return .yield { [.int(Int64(try await session.query(sql, parameters).affected))] }
            },
            LuaFunction("__native.db_scalar") { call in
                let (session, sql, parameters) = try statement(box, call)
                if dryRunSkips(box, call, sql) { return .value(.nil) }
                return .yield {
                    let result = try await session.query(sql, parameters)
                    guard let first = result.rows.first, let column = result.columns.first else { return [.nil] }
                    return [first[column] ?? .nil]
                }
            },
            LuaFunction("__native.db_status") { call in
                let env = try box.require("conn:status")
                let session = try env.resources.session(try call.integer(1))
                let variable = try call.string(2)
                return .yield {
                    let value = try await session.status(variable)
                    if let s = value.stringValue, let n = Int64(s) { return [.int(n)] }
                    if let s = value.stringValue, let d = Double(s) { return [.number(d)] }
                    return [value]
                }
            },
            LuaFunction("__native.db_command") { call in
                let env = try box.require("db")
                let session = try env.resources.session(try call.integer(1))
                let sql = try call.string(2)
                if env.dryRun { return .none }
                return .yield {
                    try await session.command(sql)
                    return []
                }
            },
            LuaFunction("__native.db_backup") { call in
                let env = try box.require("db.backup")
                let name = try call.string(1)
                let opts = try call.table(2, optional: true)
                let via = try (opts["via"].stringValue ?? env.databaseSetting(name, "backup_via")).map { try RuntimeAPI.lookup(env, $0) }
                let backups = try env.backups()
                let invocation = call.invocation
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] would back up database \(name)\(via.map { " on \($0.name)" } ?? "")", invocation: invocation))
                    return .value(.nil)
                }
                return .yield {
                    let artifact: DatabaseArtifact
                    do {
                        artifact = try await backups.backup(name, via: via)
                    } catch let failure as LocalWriteError {
                        // A dump that does not fit stops the run as a full disk does anywhere.
                        env.localWrites.record(failure)
                        throw failure
                    }
                    try await env.artifact("db-backup", artifact.luaValue, invocation)
                    env.log(LogLine(level: .info, message: "backed up \(name): \(artifact.bytes) bytes to \(artifact.path)", invocation: invocation))
                    return [artifact.luaValue]
                }
            },
            LuaFunction("__native.db_verify") { call in
                let env = try box.require("db.verify")
                let artifact = try DatabaseArtifact(try call.value(1))
                let backups = try env.backups()
                // Hashing a large dump takes a while: off the Lua executor.
                return .yield {
                    try await backups.verify(artifact)
                    return [true]
                }
            },
            LuaFunction("__native.db_restore") { call in
                let env = try box.require("db.restore")
                let artifact = try DatabaseArtifact(try call.value(1))
                let opts = try call.table(2, optional: true)
                let force = opts["force"].boolValue ?? false
                let lockWait = opts["lock_wait"].stringValue.flatMap(DurationText.seconds).map { Int($0) } ?? opts["lock_wait"].intValue ?? 10
                let via = try (opts["via"].stringValue ?? env.databaseSetting(artifact.database, "backup_via")).map { try RuntimeAPI.lookup(env, $0) }
                let backups = try env.backups()
                let invocation = call.invocation
                if env.dryRun {
                    env.log(LogLine(level: .info, message: "[dry run] would restore \(artifact.database) from \(artifact.path)\(via.map { " on \($0.name)" } ?? "")", invocation: invocation))
                    return .none
                }
                return .yield {
                    try await backups.restore(artifact, force: force, lockWait: lockWait, via: via)
                    env.log(LogLine(level: .info, message: "restored \(artifact.database) from \(artifact.path)\(via.map { " on \($0.name)" } ?? "")", invocation: invocation))
                    return []
                }
            },
            LuaFunction("__native.db_close") { call in
                let env = try box.require("conn:close")
                guard let session = env.resources.remove(try call.integer(1)) else { return .none }
                return .yield {
                    await session.close()
                    return []
                }
            },
        ]
    }

    /// In a dry run only reading statements run; the others are logged and skipped.
    static func dryRunSkips(_ box: RuntimeBox, _ call: LuaCall, _ sql: String, always: Bool = false) -> Bool {
        guard let env = box.current, env.dryRun else { return false }
        let verb = sql.trimmingCharacters(in: .whitespacesAndNewlines).prefix { !$0.isWhitespace }.uppercased()
        if !always && ["SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"].contains(verb) { return false }
        env.log(LogLine(level: .info, message: "[dry run] would execute: \(sql.prefix(160))", invocation: call.invocation))
        return true
    }

    static func statement(_ box: RuntimeBox, _ call: LuaCall) throws -> (any DatabaseSession, String, [LuaValue]) {
        let env = try box.require("db")
        let session = try env.resources.session(try call.integer(1))
        let sql = try call.string(2)
        var parameters: [LuaValue] = []
        if call.count >= 3 {
            for i in 3...call.count { parameters.append(try call.value(i)) }
        }
        return (session, sql, parameters)
    }
}
