/// Ansible-style host ranges: `cmp[001:480]`, `web[a:f]`, `node[1:10:2]`, several in one name.
public enum HostPattern {
    public static func expand(_ pattern: String) throws -> [String] {
        guard let open = pattern.firstIndex(of: "[") else { return [pattern] }
        guard let close = pattern[open...].firstIndex(of: "]") else {
            throw FerryError.invalid("host range '\(pattern)' has '[' without ']'")
        }
        let prefix = String(pattern[..<open])
        let body = pattern[pattern.index(after: open)..<close]
        let rest = try expand(String(pattern[pattern.index(after: close)...]))
        let parts = body.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3 else {
            throw FerryError.invalid("host range '\(pattern)': write [start:end] or [start:end:step]")
        }
        let step = parts.count == 3 ? Int(parts[2]) : 1
        guard let step, step > 0 else { throw FerryError.invalid("host range '\(pattern)': the step must be a positive number") }
        var items: [String] = []
        if let a = Int(parts[0]), let b = Int(parts[1]) {
            guard a <= b else { throw FerryError.invalid("host range '\(pattern)': start is after end") }
            guard (b - a) / step < 1_000_000 else { throw FerryError.invalid("host range '\(pattern)' is too large") }
            let width = parts[0].count > 1 && parts[0].hasPrefix("0") ? parts[0].count : 0
            for n in stride(from: a, through: b, by: step) {
                let digits = String(n)
                items.append(String(repeating: "0", count: max(0, width - digits.count)) + digits)
            }
        } else if parts[0].count == 1, parts[1].count == 1, let a = parts[0].unicodeScalars.first,
            let b = parts[1].unicodeScalars.first, a.properties.isAlphabetic, b.properties.isAlphabetic, a.value <= b.value
        {
            for v in stride(from: a.value, through: b.value, by: step) {
                items.append(String(Character(Unicode.Scalar(v)!)))
            }
        } else {
            throw FerryError.invalid("host range '\(pattern)': bounds must be two numbers or two letters")
        }
        var out: [String] = []
        out.reserveCapacity(items.count * rest.count)
        for item in items {
            for tail in rest { out.append(prefix + item + tail) }
        }
        return out
    }

    /// Shell-style glob match (`*`, `?`, `[abc]`) used by selectors (`"cmp0*"`, `"computes:&cmp0*"`).
    public static func glob(_ pattern: String, matches name: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let n = Array(name.unicodeScalars)
        func match(_ pi: Int, _ ni: Int) -> Bool {
            var pi = pi
            var ni = ni
            while pi < p.count {
                switch p[pi] {
                case "*":
                    if pi == p.count - 1 { return true }
                    for k in ni...n.count where match(pi + 1, k) { return true }
                    return false
                case "?":
                    if ni >= n.count { return false }
                case "[":
                    guard ni < n.count, let close = p[(pi + 1)...].firstIndex(of: "]") else { return false }
                    let set = p[(pi + 1)..<close]
                    var ok = false
                    var k = set.startIndex
                    while k < set.endIndex {
                        if k + 2 < set.endIndex, set[k + 1] == "-" {
                            if set[k].value <= n[ni].value && n[ni].value <= set[k + 2].value { ok = true }
                            k += 3
                        } else {
                            if set[k] == n[ni] { ok = true }
                            k += 1
                        }
                    }
                    if !ok { return false }
                    pi = close
                default:
                    if ni >= n.count || p[pi] != n[ni] { return false }
                }
                pi += 1
                ni += 1
            }
            return ni == n.count
        }
        return match(0, 0)
    }
}
