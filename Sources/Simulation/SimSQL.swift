import FerryCore
import Foundation

/// The simulated database's syntax check: what MariaDB's parser would refuse, it refuses with
/// MariaDB's error (`ERROR 1064 (42000): You have an error in your SQL syntax; … near '…' at
/// line 1`, MariaDB/server@mariadb-10.1.48 sql/share/errmsg-utf8.txt ER_PARSE_ERROR). Every
/// statement must start with one of MariaDB's statement keywords; quotes and parentheses must
/// close; a SELECT is parsed (its select list, FROM, WHERE, GROUP BY, HAVING, ORDER BY, LIMIT
/// and the expressions in them), so a misspelt keyword there fails as it would on a server.
/// What it cannot parse it refuses: a statement the simulation misreads would pass a drill
/// that the region then fails.
enum SimSQL {
    enum Token: Equatable {
        case word(String)       // identifier or keyword, upper-cased for comparison in `upper`
        case quotedName(String) // `name`
        case string(String)
        case number(String)
        case symbol(String)
        case parameter          // ?
    }

    struct Lexed {
        var tokens: [Token]
        /// Where each token starts in the text (for `near '…'`).
        var offsets: [String.Index]
    }

    struct SyntaxError: Error {
        /// The text from the token the parser stopped at (empty at the end).
        var near: String
    }

    /// MariaDB's ER_PARSE_ERROR for `sql`, or nil when it parses; worded as the real driver
    /// words a server's error (MariaDBConnection: `<message> (error <code>) in: <sql>`).
    static func syntaxError(_ sql: String, database: String) -> DatabaseError? {
        do {
            try check(sql)
            return nil
        } catch let e as SyntaxError {
            let near = e.near.count > 80 ? String(e.near.prefix(80)) : e.near
            return DatabaseError(database: database, code: 1064, message: "You have an error in your SQL syntax; check the manual that corresponds to your "
                + "MariaDB server version for the right syntax to use near '\(near)' at line 1 (error 1064) in: \(sql.prefix(120))")
        } catch {
            return nil
        }
    }

    static let statements: Set<String> = [
        "SELECT", "SHOW", "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER", "GRANT", "REVOKE", "SET", "USE",
        "FLUSH", "TRUNCATE", "RENAME", "DESCRIBE", "DESC", "EXPLAIN", "ANALYZE", "OPTIMIZE", "CHECK", "CHECKSUM", "REPAIR", "LOCK",
        "UNLOCK", "START", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "CALL", "DO", "KILL", "PURGE", "RESET", "WITH",
        "HANDLER", "LOAD", "INSTALL", "UNINSTALL", "XA", "SHUTDOWN", "HELP", "BACKUP", "PREPARE", "EXECUTE", "DEALLOCATE",
    ]

    static func check(_ sql: String) throws {
        let text = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        var lexed = try lex(text)
        // One statement; a trailing `;` is allowed.
        if case .symbol(";")? = lexed.tokens.last {
            lexed.tokens.removeLast()
            lexed.offsets.removeLast()
        }
        var p = Parser(text: text, lexed: lexed)
        if lexed.tokens.isEmpty { throw SyntaxError(near: "") }
        guard case .word(let first) = lexed.tokens[0], statements.contains(first.uppercased()) else { throw p.error() }
        // Parentheses must balance, and no second statement may follow.
        var depth = 0
        for (i, t) in lexed.tokens.enumerated() {
            if t == .symbol("(") { depth += 1 }
            if t == .symbol(")") { depth -= 1; if depth < 0 { p.position = i; throw p.error() } }
            if t == .symbol(";") { p.position = i; throw p.error() }
        }
        if depth != 0 { p.position = lexed.tokens.count; throw p.error() }
        if first.uppercased() == "SELECT" {
            try p.select()
            if !p.atEnd { throw p.error() }
        }
    }

    static func lex(_ text: String) throws -> Lexed {
        var tokens: [Token] = []
        var offsets: [String.Index] = []
        var i = text.startIndex
        func peek(_ n: Int = 0) -> Character? {
            var j = i
            for _ in 0..<n { guard j < text.endIndex else { return nil }; j = text.index(after: j) }
            return j < text.endIndex ? text[j] : nil
        }
        while i < text.endIndex {
            let c = text[i]
            if c.isWhitespace { i = text.index(after: i); continue }
            // Comments: -- to the end of the line, # likewise, /* … */.
            if (c == "-" && peek(1) == "-" && (peek(2).map { $0.isWhitespace } ?? true)) || c == "#" {
                while i < text.endIndex && text[i] != "\n" { i = text.index(after: i) }
                continue
            }
            if c == "/" && peek(1) == "*" {
                guard let end = text.range(of: "*/", range: text.index(i, offsetBy: 2)..<text.endIndex) else { throw SyntaxError(near: String(text[i...])) }
                i = end.upperBound
                continue
            }
            offsets.append(i)
            if c == "'" || c == "\"" || c == "`" {
                var j = text.index(after: i)
                var value = ""
                var closed = false
                while j < text.endIndex {
                    let d = text[j]
                    if d == "\\" && c != "`" {
                        j = text.index(after: j)
                        if j < text.endIndex { value.append(text[j]); j = text.index(after: j) }
                        continue
                    }
                    if d == c {
                        let after = text.index(after: j)
                        if after < text.endIndex && text[after] == c { value.append(c); j = text.index(after: after); continue }
                        closed = true
                        j = after
                        break
                    }
                    value.append(d)
                    j = text.index(after: j)
                }
                guard closed else { throw SyntaxError(near: String(text[i...])) }
                tokens.append(c == "`" ? .quotedName(value) : .string(value))
                i = j
                continue
            }
            if c.isNumber || (c == "." && (peek(1)?.isNumber ?? false)) {
                var j = i
                while j < text.endIndex, text[j].isNumber || text[j] == "." || text[j] == "e" || text[j] == "E" { j = text.index(after: j) }
                tokens.append(.number(String(text[i..<j])))
                i = j
                continue
            }
            if c.isLetter || c == "_" || c == "@" || c == "$" {
                var j = text.index(after: i)
                while j < text.endIndex, text[j].isLetter || text[j].isNumber || text[j] == "_" || text[j] == "$" || text[j] == "@" {
                    j = text.index(after: j)
                }
                tokens.append(.word(String(text[i..<j])))
                i = j
                continue
            }
            if c == "?" { tokens.append(.parameter); i = text.index(after: i); continue }
            let two = peek(1).map { String([c, $0]) } ?? ""
            if ["<=", ">=", "<>", "!=", "||", "&&", ":=", "<<", ">>"].contains(two) {
                if two == "<=" && peek(2) == ">" {
                    tokens.append(.symbol("<=>"))
                    i = text.index(i, offsetBy: 3)
                    continue
                }
                tokens.append(.symbol(two))
                i = text.index(i, offsetBy: 2)
                continue
            }
            tokens.append(.symbol(String(c)))
            i = text.index(after: i)
        }
        return Lexed(tokens: tokens, offsets: offsets)
    }

    /// A small recursive-descent parser for SELECT and its expressions.
    struct Parser {
        let text: String
        let lexed: Lexed
        var position = 0

        init(text: String, lexed: Lexed) { (self.text, self.lexed) = (text, lexed) }

        var atEnd: Bool { position >= lexed.tokens.count }
        var token: Token? { atEnd ? nil : lexed.tokens[position] }

        func error() -> SyntaxError {
            SyntaxError(near: position < lexed.offsets.count ? String(text[lexed.offsets[position]...]) : "")
        }

        func keyword(_ offset: Int = 0) -> String? {
            let i = position + offset
            guard i < lexed.tokens.count, case .word(let w) = lexed.tokens[i] else { return nil }
            return w.uppercased()
        }

        mutating func accept(_ words: String...) -> Bool {
            for (n, w) in words.enumerated() where keyword(n) != w { return false }
            position += words.count
            return true
        }

        mutating func expect(_ words: String...) throws {
            for w in words {
                guard keyword() == w else { throw error() }
                position += 1
            }
        }

        mutating func acceptSymbol(_ s: String) -> Bool {
            guard token == .symbol(s) else { return false }
            position += 1
            return true
        }

        mutating func expectSymbol(_ s: String) throws { guard acceptSymbol(s) else { throw error() } }

        /// Words that end an expression or a name (clause keywords and operators), never an alias.
        static let reserved: Set<String> = [
            "SELECT", "FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION", "ALL", "DISTINCT", "BY", "AS", "ON",
            "USING", "JOIN", "INNER", "LEFT", "RIGHT", "OUTER", "CROSS", "NATURAL", "STRAIGHT_JOIN", "AND", "OR", "XOR", "NOT", "IS",
            "IN", "LIKE", "BETWEEN", "REGEXP", "RLIKE", "ASC", "DESC", "FOR", "LOCK", "INTO", "CASE", "WHEN", "THEN", "ELSE", "END",
            "EXISTS", "DIV", "MOD", "WITH", "INTERVAL", "SET", "VALUES", "UPDATE", "DELETE", "INSERT", "SHARE", "ESCAPE",
        ]

        mutating func select() throws {
            try expect("SELECT")
            while let k = keyword(), ["ALL", "DISTINCT", "DISTINCTROW", "HIGH_PRIORITY", "STRAIGHT_JOIN", "SQL_NO_CACHE",
                                      "SQL_CACHE", "SQL_CALC_FOUND_ROWS", "SQL_SMALL_RESULT", "SQL_BIG_RESULT"].contains(k) { position += 1 }
            repeat {
                if acceptSymbol("*") { continue }
                try expression()
                try alias()
            } while acceptSymbol(",")
            if accept("FROM") {
                repeat { try tableReference() } while acceptSymbol(",")
            }
            if accept("WHERE") { try expression() }
            if accept("GROUP", "BY") {
                repeat { try expression(); _ = accept("ASC") || accept("DESC") } while acceptSymbol(",")
                _ = accept("WITH", "ROLLUP")
            }
            if accept("HAVING") { try expression() }
            if accept("ORDER", "BY") {
                repeat { try expression(); _ = accept("ASC") || accept("DESC") } while acceptSymbol(",")
            }
            if accept("LIMIT") {
                try limitValue()
                if acceptSymbol(",") || accept("OFFSET") { try limitValue() }
            }
            if accept("FOR", "UPDATE") || accept("LOCK", "IN", "SHARE", "MODE") {}
            if accept("UNION") {
                _ = accept("ALL") || accept("DISTINCT")
                try select()
            }
        }

        mutating func limitValue() throws {
            switch token {
            case .number?, .parameter?: position += 1
            default: throw error()
            }
        }

        /// `[AS] alias`: one name, not a reserved word.
        mutating func alias() throws {
            if accept("AS") {
                try name()
                return
            }
            if let k = keyword(), !Self.reserved.contains(k) { position += 1; return }
            if case .quotedName? = token { position += 1; return }
            if case .string? = token { position += 1 }
        }

        mutating func name() throws {
            switch token {
            case .word(let w)? where !Self.reserved.contains(w.uppercased()): position += 1
            case .quotedName?, .string?: position += 1
            default: throw error()
            }
        }

        /// `db.table [AS alias]`, a subquery with its alias, or joins of them.
        mutating func tableReference() throws {
            try tableFactor()
            while true {
                let natural = accept("NATURAL")
                _ = accept("INNER") || accept("CROSS") || ((accept("LEFT") || accept("RIGHT")) && (accept("OUTER") || true))
                guard accept("JOIN") || accept("STRAIGHT_JOIN") else {
                    if natural { throw error() }
                    return
                }
                try tableFactor()
                if accept("ON") {
                    try expression()
                } else if accept("USING") {
                    try expectSymbol("(")
                    repeat { try name() } while acceptSymbol(",")
                    try expectSymbol(")")
                }
            }
        }

        mutating func tableFactor() throws {
            if acceptSymbol("(") {
                if keyword() == "SELECT" { try select() } else { try tableReference() }
                try expectSymbol(")")
                try alias()
                return
            }
            try name()
            while acceptSymbol(".") { try name() }
            try alias()
        }

        // MARK: Expressions

        static let binaryWords: Set<String> = ["AND", "OR", "XOR", "DIV", "MOD", "LIKE", "REGEXP", "RLIKE", "SOUNDS"]
        static let binarySymbols: Set<String> = ["+", "-", "*", "/", "%", "=", "<>", "!=", "<", ">", "<=", ">=", "<=>", "||", "&&",
                                                 "&", "|", "^", "<<", ">>", ":="]

        mutating func expression() throws {
            try unary()
            while true {
                if case .symbol(let s)? = token, Self.binarySymbols.contains(s) {
                    position += 1
                    // `= ANY (SELECT …)`, `> ALL (…)`
                    _ = accept("ANY") || accept("SOME") || accept("ALL")
                    try unary()
                    continue
                }
                if accept("IS") {
                    _ = accept("NOT")
                    guard accept("NULL") || accept("TRUE") || accept("FALSE") || accept("UNKNOWN") else { throw error() }
                    continue
                }
                let negated = accept("NOT")
                if accept("IN") {
                    try expectSymbol("(")
                    if keyword() == "SELECT" { try select() } else { repeat { try expression() } while acceptSymbol(",") }
                    try expectSymbol(")")
                    continue
                }
                if accept("BETWEEN") {
                    try unary()
                    try expect("AND")
                    try unary()
                    continue
                }
                if let k = keyword(), Self.binaryWords.contains(k) {
                    position += 1
                    if k == "SOUNDS" { try expect("LIKE") }
                    try unary()
                    if k == "LIKE", accept("ESCAPE") { try unary() }
                    continue
                }
                if negated { throw error() }
                return
            }
        }

        mutating func unary() throws {
            while acceptSymbol("-") || acceptSymbol("+") || acceptSymbol("!") || acceptSymbol("~") || accept("NOT") || accept("BINARY") {}
            try primary()
            // `expr COLLATE name`
            if accept("COLLATE") { try name() }
        }

        mutating func primary() throws {
            guard let t = token else { throw error() }
            switch t {
            case .number, .string, .parameter:
                position += 1
            case .symbol("("):
                position += 1
                if keyword() == "SELECT" { try select() } else { repeat { try expression() } while acceptSymbol(",") }
                try expectSymbol(")")
            case .symbol("*"):
                // COUNT(*) reaches here through the arguments.
                position += 1
            case .quotedName:
                position += 1
                try qualified()
            case .word(let w):
                let k = w.uppercased()
                if k == "CASE" {
                    position += 1
                    if keyword() != "WHEN" { try expression() }
                    guard keyword() == "WHEN" else { throw error() }
                    while accept("WHEN") {
                        try expression()
                        try expect("THEN")
                        try expression()
                    }
                    if accept("ELSE") { try expression() }
                    try expect("END")
                    return
                }
                if k == "EXISTS" {
                    position += 1
                    try expectSymbol("(")
                    try select()
                    try expectSymbol(")")
                    return
                }
                if k == "INTERVAL" {
                    position += 1
                    try expression()
                    guard keyword() != nil else { throw error() }
                    position += 1
                    return
                }
                guard !Self.reserved.contains(k) else { throw error() }
                position += 1
                if acceptSymbol("(") {
                    // A function call: COUNT(*), COUNT(DISTINCT x), NOW(), CONCAT(a, b).
                    if !acceptSymbol(")") {
                        _ = accept("DISTINCT") || accept("ALL")
                        repeat { try expression() } while acceptSymbol(",")
                        if accept("SEPARATOR") { try primary() }
                        try expectSymbol(")")
                    }
                    return
                }
                try qualified()
            default:
                throw error()
            }
        }

        /// `.column` after a table name (`instances.vm_state`, `t.*`).
        mutating func qualified() throws {
            while acceptSymbol(".") {
                if acceptSymbol("*") { return }
                try name()
            }
        }
    }
}
