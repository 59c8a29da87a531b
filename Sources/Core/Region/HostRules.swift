/// What a host's address and an SSH user name may be. Both reach `ssh`'s command line
/// (and the address reaches known_hosts and error messages), so a value that could be
/// read as an option (`-oProxyCommand=…`) or holds whitespace, control characters or
/// shell metacharacters is refused when the region loads.
public enum HostRules {
    /// Why `name` cannot name a host: it becomes part of file names (command output), of
    /// journal records and of what the terminal shows (nil: it can).
    public static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a host name is empty" }
        if name.contains("/") { return "host name \(quoted(name)) contains '/'" }
        if name.unicodeScalars.contains(where: { isControl($0) }) {
            return "host name \(quoted(name)) contains a control character"
        }
        return nil
    }

    /// Why `address` is not a hostname or an IP address (nil: it is one).
    public static func addressProblem(_ address: String) -> String? {
        let shown = quoted(address)
        if address.isEmpty { return "the address is empty" }
        if address.hasPrefix("-") { return "address \(shown) starts with '-' (ssh would read it as an option)" }
        if isIPv6(address) || isHostname(address) { return nil }
        return "address \(shown) is not a hostname or an IP address "
            + "(letters, digits, '.', '-' and '_', not starting with '-'; or an IPv4 or IPv6 address)"
    }

    /// Why `user` is not a POSIX user name (nil: it is one).
    public static func userProblem(_ user: String) -> String? {
        let scalars = Array(user.unicodeScalars)
        let shown = quoted(user)
        guard !scalars.isEmpty else { return "the user name is empty" }
        if scalars[0] == "-" { return "user \(shown) starts with '-' (ssh would read it as an option)" }
        let body = scalars.last == "$" ? scalars.dropLast() : scalars[...]
        let valid = body.count <= 32 && !body.isEmpty && body.first != "."
            && body.allSatisfy { isASCIIAlphanumeric($0) || $0 == "_" || $0 == "." || $0 == "-" }
        return valid ? nil : "user \(shown) is not a POSIX user name (letters, digits, '_', '.' and '-', at most 32, not starting with '-')"
    }

    static func isHostname(_ s: String) -> Bool {
        guard s.utf8.count <= 253 else { return false }
        let labels = s.hasSuffix(".") ? s.dropLast().split(separator: ".", omittingEmptySubsequences: false)
            : s.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63 && label.first != "-"
                && label.unicodeScalars.allSatisfy { isASCIIAlphanumeric($0) || $0 == "-" || $0 == "_" }
        }
    }

    /// An IPv6 address, with an optional zone (`fe80::1%eth0`) and an optional IPv4 tail.
    static func isIPv6(_ s: String) -> Bool {
        var address = Substring(s)
        if let percent = s.firstIndex(of: "%") {
            let zone = s[s.index(after: percent)...]
            guard !zone.isEmpty, zone.unicodeScalars.allSatisfy({ isASCIIAlphanumeric($0) || "_.-".unicodeScalars.contains($0) })
            else { return false }
            address = s[..<percent]
        }
        guard address.contains(":"), address.count <= 45 else { return false }
        return address.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }
    }

    static func isASCIIAlphanumeric(_ c: Unicode.Scalar) -> Bool {
        let v = c.value
        return (0x61...0x7A).contains(v) || (0x41...0x5A).contains(v) || (0x30...0x39).contains(v)
    }

    static func isControl(_ c: Unicode.Scalar) -> Bool { c.value < 0x20 || c.value == 0x7F || (0x80...0x9F).contains(c.value) }

    /// A value as error messages show it: quoted, with control characters escaped.
    static func quoted(_ s: String) -> String {
        var out = "'"
        for c in s.unicodeScalars {
            if isControl(c) {
                out += "\\u{" + String(c.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out + "'"
    }
}
