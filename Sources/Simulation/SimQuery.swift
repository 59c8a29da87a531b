import FerryCore
import Foundation
import LuaBridge

/// A table a component models row by row (``SimComponent/table(_:database:state:context:)``):
/// its columns as the release's schema has them, the rows, and the columns the real table
/// has that the model leaves out (a statement naming one is not judged, never answered wrongly).
public struct SimTable: Sendable {
    /// Column names, lower case, in the schema's order (`SELECT *` returns them so).
    public var columns: [String]
    public var rows: [[String: LuaValue]]
    /// Columns of the real table the model does not keep.
    public var unmodelled: Set<String>

    public init(columns: [String], rows: [[String: LuaValue]], unmodelled: Set<String> = []) {
        (self.columns, self.rows, self.unmodelled) = (columns, rows, unmodelled)
    }
}

/// A change to a modelled table, for the component to apply to its state
/// (``SimComponent/apply(_:database:state:context:)``): the rows an UPDATE or DELETE matched,
/// as the table gave them, with the values an UPDATE gives them; or the row an INSERT adds.
public enum SimTableChange: Sendable {
    case update(table: String, rows: [[String: LuaValue]], set: [[String: LuaValue]])
    case insert(table: String, row: [String: LuaValue])
    case delete(table: String, rows: [[String: LuaValue]])

    public var table: String {
        switch self {
        case .update(let t, _, _), .insert(let t, _), .delete(let t, _): return t
        }
    }
}

/// The statements the simulation evaluates over a component's modelled tables, as MariaDB
/// would: `SELECT` of columns and aggregates (`COUNT(*)`, `COUNT([DISTINCT] col)`, `SUM`,
/// `MIN`, `MAX`) from one table, with a `WHERE` of comparisons joined by `AND` (`=`, `!=`,
/// `<>`, `<`, `<=`, `>`, `>=`, `[NOT] IN (…)`, `IS [NOT] NULL`), `GROUP BY`, `ORDER BY` and
/// `LIMIT`; `UPDATE … SET col = value, … WHERE …`; `INSERT INTO t (cols) VALUES (…)`;
/// `DELETE FROM t WHERE …`. Values are literals, `?` parameters, `NULL`, another column
/// (`SET deleted = id`), or `NOW()` / `UTC_TIMESTAMP()` / `CURRENT_TIMESTAMP` with an optional
/// `± INTERVAL n SECOND|MINUTE|HOUR|DAY`. A statement outside this subset (a join, `OR`, a
/// function) is not evaluated here: ``parse(_:parameters:)`` gives nil and the statement goes
/// on to what else the simulation answers, or is recorded as unjudged.
public struct SimQuery: Sendable {
    public enum Operand: Sendable, Equatable {
        case value(LuaValue)
        case column(String)
        /// The database's clock, plus seconds.
        case now(Double)
    }

    public enum Comparison: String, Sendable {
        case eq = "=", ne = "!=", lt = "<", le = "<=", gt = ">", ge = ">="
    }

    public enum Predicate: Sendable, Equatable {
        case compare(String, Comparison, Operand)
        case isIn(String, [Operand], negated: Bool)
        case isNull(String, negated: Bool)
    }

    public enum Item: Sendable, Equatable {
        case star
        case column(String, label: String)
        /// `COUNT`, `SUM`, `MIN`, `MAX`; column nil for `*`.
        case aggregate(String, column: String?, distinct: Bool, label: String)
    }

    public enum Statement: Sendable {
        case select(items: [Item], table: String, predicates: [Predicate], groupBy: [String], orderBy: [(String, ascending: Bool)],
                    limit: Int?)
        case update(table: String, set: [(String, Operand)], predicates: [Predicate])
        case insert(table: String, columns: [String], values: [Operand])
        case delete(table: String, predicates: [Predicate])
    }

    public let statement: Statement

    public var table: String {
        switch statement {
        case .select(_, let t, _, _, _, _), .update(let t, _, _), .insert(let t, _, _), .delete(let t, _): return t
        }
    }

    /// Every column the statement names (for the table's check of unknown and unmodelled columns).
    public var columns: [String] {
        func of(_ ps: [Predicate]) -> [String] {
            ps.flatMap { p -> [String] in
                switch p {
                case .compare(let c, _, let o): return [c] + Self.columns(o)
                case .isIn(let c, let os, _): return [c] + os.flatMap(Self.columns)
                case .isNull(let c, _): return [c]
                }
            }
        }
        switch statement {
        case .select(let items, _, let ps, let g, let o, _):
            let named = items.compactMap { i -> String? in
                switch i {
                case .column(let c, _): return c
                case .aggregate(_, let c, _, _): return c
                case .star: return nil
                }
            }
            // ORDER BY may name a selected column's label (`COUNT(*) AS n … ORDER BY n`).
            let labels = Set(items.compactMap { i -> String? in
                switch i {
                case .column(_, let l), .aggregate(_, _, _, let l): return l
                case .star: return nil
                }
            })
            return named + of(ps) + g + o.map(\.0).filter { !labels.contains($0) || named.contains($0) }
        case .update(_, let set, let ps): return set.flatMap { [$0.0] + Self.columns($0.1) } + of(ps)
        case .insert(_, let cs, let vs): return cs + vs.flatMap(Self.columns)
        case .delete(_, let ps): return of(ps)
        }
    }

    static func columns(_ o: Operand) -> [String] { if case .column(let c) = o { return [c] } else { return [] } }

    // MARK: Parsing

    /// The statement, when it is within the subset; nil otherwise. `?` takes the parameters in order.
    public static func parse(_ sql: String, parameters: [LuaValue] = []) -> SimQuery? {
        guard var lexed = try? SimSQL.lex(sql.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        if case .symbol(";")? = lexed.tokens.last { lexed.tokens.removeLast(); lexed.offsets.removeLast() }
        var p = Reader(tokens: lexed.tokens, parameters: parameters)
        guard let statement = p.statement(), p.atEnd else { return nil }
        return SimQuery(statement: statement)
    }

    struct Reader {
        let tokens: [SimSQL.Token]
        let parameters: [LuaValue]
        var position = 0
        var parameterIndex = 0

        var atEnd: Bool { position >= tokens.count }
        var token: SimSQL.Token? { atEnd ? nil : tokens[position] }

        func keyword(_ offset: Int = 0) -> String? {
            let i = position + offset
            guard i < tokens.count, case .word(let w) = tokens[i] else { return nil }
            return w.uppercased()
        }
        mutating func accept(_ words: String...) -> Bool {
            for (n, w) in words.enumerated() where keyword(n) != w { return false }
            position += words.count
            return true
        }
        mutating func symbol(_ s: String) -> Bool {
            guard token == .symbol(s) else { return false }
            position += 1
            return true
        }

        static let reserved: Set<String> = SimSQL.Parser.reserved.union(["NULL", "TRUE", "FALSE", "LIMIT"])

        /// A name: a word that is not reserved, or a `quoted` one.
        mutating func name() -> String? {
            switch token {
            case .word(let w)? where !Self.reserved.contains(w.uppercased()): position += 1; return w.lowercased()
            case .quotedName(let w)?: position += 1; return w.lowercased()
            default: return nil
            }
        }

        /// `column` or `alias.column` (the qualifier dropped: one table).
        mutating func column() -> String? {
            guard var c = name() else { return nil }
            if symbol(".") {
                guard let n = name() else { return nil }
                c = n
            }
            return c
        }

        mutating func statement() -> Statement? {
            if accept("SELECT") { return select() }
            if accept("UPDATE") {
                guard let t = table(), accept("SET") else { return nil }
                var set: [(String, Operand)] = []
                repeat {
                    guard let c = column(), symbol("="), let v = operand() else { return nil }
                    set.append((c, v))
                } while symbol(",")
                guard let ps = whereClause() else { return nil }
                return .update(table: t, set: set, predicates: ps)
            }
            if accept("INSERT") {
                _ = accept("INTO")
                guard let t = name(), symbol("(") else { return nil }
                var cs: [String] = []
                repeat { guard let c = name() else { return nil }; cs.append(c) } while symbol(",")
                guard symbol(")"), accept("VALUES") || accept("VALUE"), symbol("(") else { return nil }
                var vs: [Operand] = []
                repeat { guard let v = operand() else { return nil }; vs.append(v) } while symbol(",")
                guard symbol(")"), vs.count == cs.count else { return nil }
                return .insert(table: t, columns: cs, values: vs)
            }
            if accept("DELETE", "FROM") {
                guard let t = table(), let ps = whereClause() else { return nil }
                return .delete(table: t, predicates: ps)
            }
            return nil
        }

        /// `table [[AS] alias]`, or `database.table`.
        mutating func table() -> String? {
            guard var t = name() else { return nil }
            if symbol(".") { guard let n = name() else { return nil }; t = n }
            if accept("AS") { guard name() != nil else { return nil } } else { _ = name() }
            return t
        }

        mutating func select() -> Statement? {
            var items: [Item] = []
            repeat {
                guard let item = selectItem() else { return nil }
                items.append(item)
            } while symbol(",")
            guard accept("FROM"), let t = table() else { return nil }
            guard let ps = whereClause() else { return nil }
            var groupBy: [String] = []
            if accept("GROUP", "BY") {
                repeat { guard let c = column() else { return nil }; groupBy.append(c) } while symbol(",")
            }
            var orderBy: [(String, ascending: Bool)] = []
            if accept("ORDER", "BY") {
                repeat {
                    guard let c = column() else { return nil }
                    let desc = accept("DESC")
                    if !desc { _ = accept("ASC") }
                    orderBy.append((c, ascending: !desc))
                } while symbol(",")
            }
            var limit: Int?
            if accept("LIMIT") {
                guard case .number(let n)? = token, let v = Int(n) else { return nil }
                position += 1
                limit = v
            }
            return .select(items: items, table: t, predicates: ps, groupBy: groupBy, orderBy: orderBy, limit: limit)
        }

        mutating func selectItem() -> Item? {
            if symbol("*") { return .star }
            if let fn = keyword(), ["COUNT", "SUM", "MIN", "MAX"].contains(fn), tokens.count > position + 1,
               tokens[position + 1] == .symbol("(")
            {
                position += 2
                let distinct = accept("DISTINCT")
                var argument: String?
                if symbol("*") {
                    guard fn == "COUNT", !distinct else { return nil }
                } else {
                    guard let c = column() else { return nil }
                    argument = c
                }
                guard symbol(")") else { return nil }
                let text = "\(fn)(\(distinct ? "DISTINCT " : "")\(argument ?? "*"))"
                return .aggregate(fn, column: argument, distinct: distinct, label: alias() ?? text)
            }
            guard let c = column() else { return nil }
            return .column(c, label: alias() ?? c)
        }

        mutating func alias() -> String? {
            if accept("AS") { return name() ?? stringLiteral() }
            return name()
        }

        mutating func stringLiteral() -> String? {
            guard case .string(let s)? = token else { return nil }
            position += 1
            return s
        }

        /// `WHERE p AND p …`, or nothing: [] (every row).
        mutating func whereClause() -> [Predicate]? {
            guard accept("WHERE") else { return [] }
            var out: [Predicate] = []
            repeat {
                guard let p = predicate() else { return nil }
                out.append(p)
            } while accept("AND")
            return out
        }

        mutating func predicate() -> Predicate? {
            guard let c = column() else { return nil }
            if accept("IS") {
                let negated = accept("NOT")
                guard accept("NULL") else { return nil }
                return .isNull(c, negated: negated)
            }
            let negated = accept("NOT")
            if accept("IN") {
                guard symbol("(") else { return nil }
                var list: [Operand] = []
                repeat { guard let v = operand() else { return nil }; list.append(v) } while symbol(",")
                guard symbol(")") else { return nil }
                return .isIn(c, list, negated: negated)
            }
            if negated { return nil }
            guard case .symbol(let s)? = token else { return nil }
            let op: Comparison
            switch s {
            case "=": op = .eq
            case "!=", "<>": op = .ne
            case "<": op = .lt
            case "<=": op = .le
            case ">": op = .gt
            case ">=": op = .ge
            default: return nil
            }
            position += 1
            guard let v = operand() else { return nil }
            return .compare(c, op, v)
        }

        mutating func operand() -> Operand? {
            var sign = 1.0
            if symbol("-") { sign = -1 }
            switch token {
            case .number(let n)?:
                position += 1
                if let i = Int64(n) { return .value(.int(Int64(sign) * i)) }
                return Double(n).map { .value(.number(sign * $0)) }
            case .string(let s)?:
                guard sign > 0 else { return nil }
                position += 1
                return .value(.string(s))
            case .parameter?:
                guard sign > 0, parameterIndex < parameters.count else { return nil }
                position += 1
                parameterIndex += 1
                return .value(parameters[parameterIndex - 1])
            default: break
            }
            guard sign > 0 else { return nil }
            if accept("NULL") { return .value(.nil) }
            if accept("TRUE") { return .value(.int(1)) }
            if accept("FALSE") { return .value(.int(0)) }
            if let k = keyword(), ["NOW", "UTC_TIMESTAMP", "CURRENT_TIMESTAMP", "SYSDATE"].contains(k) {
                position += 1
                if symbol("(") { guard symbol(")") else { return nil } } else if k != "CURRENT_TIMESTAMP" { return nil }
                var offset = 0.0
                if case .symbol(let s)? = token, s == "+" || s == "-", keyword(1) == "INTERVAL" {
                    position += 2
                    guard case .number(let n)? = token, let amount = Double(n) else { return nil }
                    position += 1
                    let units: [String: Double] = ["SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400]
                    guard let k = keyword(), let unit = units[k] else { return nil }
                    position += 1
                    offset = (s == "+" ? 1 : -1) * amount * unit
                }
                return .now(offset)
            }
            return column().map { .column($0) }
        }
    }

    // MARK: Evaluation

    /// MariaDB's way of showing a DATETIME (`2026-12-07 19:04:05`), in UTC.
    public static func datetime(_ seconds: Double) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: seconds.rounded(.down)))
    }

    /// What went wrong evaluating against a table: a column the table does not have (MariaDB's
    /// error 1054), or one the model leaves out (not judged).
    public enum Refusal: Error, Equatable {
        case unknownColumn(String)
        case unmodelled(String)
    }

    /// The columns whose values the statement reads (what it selects, compares, or copies from): an UPDATE's
    /// or an INSERT's target columns are written, not read.
    var readColumns: [String] {
        switch statement {
        case .select: return columns
        case .update(_, let set, let ps): return set.flatMap { Self.columns($0.1) } + SimQuery(statement: .delete(table: "", predicates: ps)).columns
        case .insert(_, _, let vs): return vs.flatMap(Self.columns)
        case .delete: return columns
        }
    }

    /// Checks the statement's columns against the table: every one must be the table's (MariaDB's 1054), and none it
    /// reads may be one the model leaves out. Writing a column the model leaves out is for the component's `apply`
    /// to accept (its value is not kept) or refuse.
    public func check(against table: SimTable) throws(Refusal) {
        let known = Set(table.columns).union(table.unmodelled)
        for c in columns where !known.contains(c) { throw .unknownColumn(c) }
        for c in readColumns where table.unmodelled.contains(c) { throw .unmodelled(c) }
    }

    func value(_ o: Operand, row: [String: LuaValue], now: Double) -> LuaValue {
        switch o {
        case .value(let v): return v
        case .column(let c): return row[c] ?? .nil
        case .now(let offset): return .string(Self.datetime(now + offset))
        }
    }

    /// MariaDB's comparison: NULL matches nothing; numbers as numbers (a numeric string as its number);
    /// strings case-insensitively (the `utf8_general_ci` collation OpenStack's tables use).
    static func compare(_ a: LuaValue, _ b: LuaValue) -> ComparisonResult? {
        func number(_ v: LuaValue) -> Double? {
            switch v {
            case .int(let i): return Double(i)
            case .number(let d): return d
            case .bool(let b): return b ? 1 : 0
            default: return nil
            }
        }
        if a.isNil || b.isNil { return nil }
        if let x = number(a) ?? (number(b) != nil ? a.stringValue.flatMap(Double.init) : nil),
           let y = number(b) ?? (number(a) != nil ? b.stringValue.flatMap(Double.init) : nil)
        {
            return x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
        }
        guard let x = a.stringValue?.lowercased(), let y = b.stringValue?.lowercased() else { return nil }
        return x < y ? .orderedAscending : x > y ? .orderedDescending : .orderedSame
    }

    func matches(_ row: [String: LuaValue], _ predicates: [Predicate], now: Double) -> Bool {
        predicates.allSatisfy { p in
            switch p {
            case .isNull(let c, let negated): return (row[c] ?? .nil).isNil != negated
            case .compare(let c, let op, let o):
                guard let r = Self.compare(row[c] ?? .nil, value(o, row: row, now: now)) else { return false }
                switch op {
                case .eq: return r == .orderedSame
                case .ne: return r != .orderedSame
                case .lt: return r == .orderedAscending
                case .le: return r != .orderedDescending
                case .gt: return r == .orderedDescending
                case .ge: return r != .orderedAscending
                }
            case .isIn(let c, let list, let negated):
                let v = row[c] ?? .nil
                if v.isNil { return false }
                let found = list.contains { Self.compare(v, value($0, row: row, now: now)) == .orderedSame }
                return found != negated
            }
        }
    }

    /// The rows and columns a SELECT answers over `table` (after ``check(against:)``); nil for another statement.
    public func select(_ table: SimTable, now: Double) -> (rows: [[String: LuaValue]], columns: [String])? {
        guard case .select(let items, _, let ps, let groupBy, let orderBy, let limit) = statement else { return nil }
        let matched = table.rows.filter { matches($0, ps, now: now) }
        let aggregated = !groupBy.isEmpty || items.contains { if case .aggregate = $0 { return true } else { return false } }
        var labels: [String] = []
        for i in items {
            switch i {
            case .star: labels += table.columns
            case .column(_, let l), .aggregate(_, _, _, let l): labels.append(l)
            }
        }
        var out: [[String: LuaValue]]
        if aggregated {
            var groups: [[LuaValue]: [[String: LuaValue]]] = [:]
            var order: [[LuaValue]] = []
            for r in matched {
                let key = groupBy.map { r[$0] ?? .nil }
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append(r)
            }
            // An aggregate without GROUP BY answers one row, over no rows too.
            if groupBy.isEmpty && order.isEmpty { order = [[]]; groups[[]] = [] }
            out = order.map { key in
                let rows = groups[key] ?? []
                var o: [String: LuaValue] = [:]
                for i in items {
                    switch i {
                    case .star: for c in table.columns { o[c] = rows.first?[c] ?? .nil }
                    case .column(let c, let l): o[l] = rows.first?[c] ?? .nil
                    case .aggregate(let fn, let c, let distinct, let l): o[l] = Self.aggregate(fn, c, distinct, rows)
                    }
                }
                return o
            }
        } else {
            out = matched.map { r in
                var o: [String: LuaValue] = [:]
                for i in items {
                    switch i {
                    case .star: for c in table.columns { o[c] = r[c] ?? .nil }
                    case .column(let c, let l): o[l] = r[c] ?? .nil
                    case .aggregate: break
                    }
                }
                return o
            }
        }
        if !orderBy.isEmpty {
            // ORDER BY names a selected label or a column of the table.
            let source = aggregated ? out : matched
            var indexed = Array(zip(out, source))
            indexed.sort { a, b in
                for (c, ascending) in orderBy {
                    let x = a.0[c] ?? a.1[c] ?? .nil, y = b.0[c] ?? b.1[c] ?? .nil
                    // NULL sorts first ascending, as in MariaDB.
                    let r = x.isNil && y.isNil ? .orderedSame : x.isNil ? .orderedAscending : y.isNil ? .orderedDescending
                        : Self.compare(x, y) ?? .orderedSame
                    if r != .orderedSame { return ascending ? r == .orderedAscending : r == .orderedDescending }
                }
                return false
            }
            out = indexed.map(\.0)
        }
        if let limit { out = Array(out.prefix(limit)) }
        return (out, labels)
    }

    static func aggregate(_ fn: String, _ column: String?, _ distinct: Bool, _ rows: [[String: LuaValue]]) -> LuaValue {
        guard let column else { return .int(Int64(rows.count)) }
        var values = rows.compactMap { r -> LuaValue? in let v = r[column] ?? .nil; return v.isNil ? nil : v }
        if distinct { var seen = Set<LuaValue>(); values = values.filter { seen.insert($0).inserted } }
        switch fn {
        case "COUNT": return .int(Int64(values.count))
        case "SUM":
            if values.isEmpty { return .nil }
            let ints = values.compactMap { v -> Int64? in if case .int(let i) = v { return i } else { return nil } }
            if ints.count == values.count { return .int(ints.reduce(0, +)) }
            return .number(values.compactMap { v -> Double? in
                if case .int(let i) = v { return Double(i) }
                if case .number(let d) = v { return d }
                return v.stringValue.flatMap(Double.init)
            }.reduce(0, +))
        default:
            let sorted = values.sorted { compare($0, $1) == .orderedAscending }
            return (fn == "MIN" ? sorted.first : sorted.last) ?? .nil
        }
    }

    /// The change an UPDATE, INSERT or DELETE makes to `table` (after ``check(against:)``); nil for a SELECT.
    public func change(_ table: SimTable, now: Double) -> SimTableChange? {
        switch statement {
        case .select: return nil
        case .update(let t, let set, let ps):
            let matched = table.rows.filter { matches($0, ps, now: now) }
            let values = matched.map { r in
                var v: [String: LuaValue] = [:]
                for (c, o) in set { v[c] = value(o, row: r, now: now) }
                return v
            }
            return .update(table: t, rows: matched, set: values)
        case .insert(let t, let cs, let vs):
            var row: [String: LuaValue] = [:]
            for (c, o) in zip(cs, vs) { row[c] = value(o, row: [:], now: now) }
            return .insert(table: t, row: row)
        case .delete(let t, let ps):
            return .delete(table: t, rows: table.rows.filter { matches($0, ps, now: now) })
        }
    }
}
