import Foundation
import LuaBridge

/// Resolves the host selectors of `on`, `inventory.hosts` and `ferry exec` with Ansible's
/// host-pattern syntax (ansible/ansible@v2.14.18 lib/ansible/inventory/manager.py:
/// `split_host_pattern`, `order_patterns`, `_evaluate_patterns`, `_match_one_pattern`,
/// `_split_subscript`, `_apply_subscript`, `_enumerate_matches`):
///
/// - terms separated by `,` (or `:`): `a:b` is the union, `a:&b` the intersection,
///   `a:!b` the exclusion; unions first, then intersections, then exclusions, whatever
///   the order written (a pattern of only `&`/`!` terms starts from `all`)
/// - a term is `all`/`*`, a group (its hosts and its children's), a host, a shell glob
///   (`cmp0*`, matched against group names and host names), or `~regex` (matched from
///   the start of group and host names)
/// - a subscript picks from a term's hosts: `g[0]`, `g[-1]`, `g[0:9]` (inclusive), `g[5:]`
///   (not the removed `g[0-9]`, which stays a glob's character class)
///
/// Ferry differs where Ansible would silently ignore: a term that matches nothing is an
/// error (with a suggestion), and `cmp[001:040]` whose base matches nothing is Ferry's host
/// range (every name must be a host). The filter Ferry used to write `group:glob` is
/// `group:&glob`; the old form is refused with that pointer, since Ansible reads it as a union.
public struct HostSelector: Sendable {
    public let region: Region

    public init(region: Region) { self.region = region }

    public func hosts(_ selector: String) throws -> [RegionHost] {
        try names(selector).map { region.hosts[$0]! }
    }

    public func hosts(_ selectors: [String]) throws -> [RegionHost] {
        var seen = Set<String>()
        var out: [RegionHost] = []
        for s in selectors {
            for h in try hosts(s) where seen.insert(h.name).inserted { out.append(h) }
        }
        return out
    }

    /// The hosts an `on` function chose (`list`); a name that selects nothing is an error at
    /// the function's place (`place`, when a runbook file defines it) or else at the line that
    /// declared the step or check.
    static func chosen(_ list: [String], by place: LuaValue?, declaredAt location: SourceLocation, region: Region) throws -> [RegionHost] {
        do {
            return try HostSelector(region: region).hosts(list)
        } catch let e as FerryError {
            throw FerryError(e.kind, "\(place?.stringValue ?? location.description): in what the 'on' function returned: \(e.message)")
        }
    }

    public func names(_ selector: String) throws -> [String] {
        let trimmed = selector.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { throw FerryError.invalid("selector '\(selector)' is empty") }
        // A whole host or group name first (an IPv6 address has colons).
        if trimmed == "all" || trimmed == "*" { return region.hostOrder }
        if let members = region.groups[trimmed] { return members }
        if region.hosts[trimmed] != nil { return [trimmed] }
        let terms = Self.split(trimmed)
        try refuseOldFilter(selector, terms)
        let ordered = terms.filter { !$0.hasPrefix("!") && !$0.hasPrefix("&") }
        let regular = ordered.isEmpty ? ["all"] : ordered
        var result: [String] = []
        var inResult = Set<String>()
        for term in regular + terms.filter { $0.hasPrefix("&") } + terms.filter { $0.hasPrefix("!") } {
            let that = try match(term, in: selector)
            if term.hasPrefix("!") {
                let set = Set(that)
                result.removeAll { set.contains($0) }
                inResult.subtract(set)
            } else if term.hasPrefix("&") {
                let set = Set(that)
                result.removeAll { !set.contains($0) }
                inResult.formIntersection(set)
            } else {
                // One set across the terms: a comma list of 10,000 host names stays linear.
                for h in that where inResult.insert(h).inserted { result.append(h) }
            }
        }
        if result.isEmpty { throw FerryError.invalid("selector '\(selector)' matches no host") }
        return result
    }

    /// Ansible's `split_host_pattern`: on commas when there is one, else on colons outside
    /// brackets. Ferry also splits each comma-separated part on its colons (Ansible would
    /// look for a host named `a:b`).
    static func split(_ pattern: String) -> [String] {
        var out: [String] = []
        for part in pattern.split(separator: ",", omittingEmptySubsequences: true) {
            var current = ""
            var depth = 0
            for c in part {
                if c == "[" { depth += 1 } else if c == "]" { depth = max(0, depth - 1) }
                if c == ":" && depth == 0 {
                    out.append(current)
                    current = ""
                } else {
                    current.append(c)
                }
            }
            out.append(current)
        }
        return out.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// `group:glob` filtered a group before Ferry took Ansible's syntax; Ansible reads it as
    /// the union of the group and every host the glob matches, which would widen a step.
    func refuseOldFilter(_ selector: String, _ terms: [String]) throws {
        let trimmed = selector.trimmingCharacters(in: .whitespaces)
        guard terms.count == 2, !trimmed.contains(","), !terms[1].hasPrefix("&"), !terms[1].hasPrefix("!"),
            !terms[1].hasPrefix("~"),
            terms[0] == "all" || terms[0] == "*" || region.groups[terms[0]] != nil,
            terms[1].contains(where: { $0 == "*" || $0 == "?" }) || (terms[1].contains("[") && Self.splitSubscript(terms[1]) == nil),
            region.groups[terms[1]] == nil, region.hosts[terms[1]] == nil
        else { return }
        let pointer = terms[0] == "all" || terms[0] == "*" ? terms[1] : "\(terms[0]):&\(terms[1])"
        throw FerryError.invalid(
            "selector '\(selector)': 'group:glob' was Ferry's filter and is now Ansible's union (the group plus every host '\(terms[1])' matches); for the hosts of '\(terms[0])' that match it write '\(pointer)', for the union write '\(terms[0]),\(terms[1])'")
    }

    /// Ansible's PATTERN_WITH_SUBSCRIPT: `expr[n]`, `expr[-n]`, `expr[x:y]`, `expr[x:]`
    /// (and the removed `[x-y]`). Returns the expression, the start and the end (nil: one host).
    static func splitSubscript(_ pattern: String) -> (String, Int, Int?)? {
        guard !pattern.hasPrefix("~"), pattern.hasSuffix("]"), let open = pattern.lastIndex(of: "["),
            open > pattern.startIndex
        else { return nil }
        let expr = String(pattern[..<open])
        let inside = String(pattern[pattern.index(after: open)..<pattern.index(before: pattern.endIndex)])
        let digits = { (s: Substring) in !s.isEmpty && s.allSatisfy { $0.isASCII && $0.isNumber } }
        if let i = Int(inside), digits(inside.hasPrefix("-") ? inside.dropFirst() : Substring(inside)) { return (expr, i, nil) }
        // Ansible 2.14 still reads `[x-y]` with a warning that it "has been removed"; Ferry
        // reads it as the glob's character class it also is (`cmp00[1-3]`).
        guard let sep = inside.firstIndex(of: ":") else { return nil }
        let start = inside[..<sep]
        let end = inside[inside.index(after: sep)...]
        guard digits(start), end.isEmpty || digits(end) else { return nil }
        // `_split_subscript`: a missing end is -1 (the last); `_apply_subscript` reads an end
        // of 0 as "no end" (one host), as Ansible does.
        let e = end.isEmpty ? -1 : Int(end)!
        return (expr, Int(start)!, e == 0 ? nil : e)
    }

    func match(_ rawTerm: String, in selector: String) throws -> [String] {
        var term = rawTerm
        if term.hasPrefix("!") || term.hasPrefix("&") { term.removeFirst() }
        if term.isEmpty { throw FerryError.invalid("selector '\(selector)': '\(rawTerm)' names nothing") }
        if region.hosts[term] != nil && region.groups[term] == nil { return [term] }
        if let (expr, start, end) = Self.splitSubscript(term) {
            let hosts = try enumerate(expr, in: selector, quiet: true)
            if !hosts.isEmpty {
                func index(_ i: Int) -> Int { i < 0 ? hosts.count + i : i }
                if let end {
                    let last = end == -1 ? hosts.count - 1 : min(end, hosts.count - 1)
                    let first = index(start)
                    guard first < hosts.count else {
                        throw FerryError.invalid("selector '\(selector)': no hosts matched the subscripted pattern '\(term)' ('\(expr)' has \(hosts.count))")
                    }
                    return first <= last ? Array(hosts[first...last]) : []
                }
                let i = index(start)
                guard i >= 0, i < hosts.count else {
                    throw FerryError.invalid("selector '\(selector)': no hosts matched the subscripted pattern '\(term)' ('\(expr)' has \(hosts.count))")
                }
                return [hosts[i]]
            }
        }
        // Ferry's host range: `cmp[001:040]` when `cmp` matches nothing.
        if term.contains("["), !term.hasPrefix("~"), let expanded = try? HostPattern.expand(term), expanded.count > 1 || expanded != [term] {
            let missing = expanded.filter { region.hosts[$0] == nil }
            if missing.isEmpty { return expanded }
            if missing.count < expanded.count || !term.contains(where: { $0 == "*" || $0 == "?" }) {
                throw FerryError.invalid("selector '\(selector)': \(missing.count) host(s) not in the region, e.g. \(missing[0])")
            }
        }
        return try enumerate(term, in: selector, quiet: false)
    }

    /// `_enumerate_matches`: the hosts of every group the pattern matches, then (when no
    /// group matched, or the pattern is a regex or has `.`, `?`, `*` or `[`) every host it matches.
    func enumerate(_ pattern: String, in selector: String, quiet: Bool) throws -> [String] {
        if pattern == "all" || pattern == "*" { return region.hostOrder }
        let matcher = try self.matcher(pattern, in: selector)
        var results: [String] = []
        var seen = Set<String>()
        let groups = region.groupOrder.filter { $0 != "all" && $0 != "ungrouped" || $0 == pattern }.filter(matcher)
        for g in groups { for h in region.groups[g] ?? [] where seen.insert(h).inserted { results.append(h) } }
        if groups.isEmpty || pattern.hasPrefix("~") || pattern.contains(where: { ".?*[".contains($0) }) {
            for h in region.hostOrder where matcher(h) && seen.insert(h).inserted { results.append(h) }
        }
        if results.isEmpty && !quiet {
            if pattern.hasPrefix("~") || pattern.contains(where: { "?*[".contains($0) }) {
                throw FerryError.invalid("selector '\(selector)': '\(pattern)' matches no host or group")
            }
            throw FerryError.invalid("selector '\(selector)'\(selector == pattern ? "" : ": '\(pattern)'") matches no host or group\(suggestion(pattern))")
        }
        return results
    }

    func matcher(_ pattern: String, in selector: String) throws -> (String) -> Bool {
        if pattern.hasPrefix("~") {
            let regex: NSRegularExpression
            do { regex = try NSRegularExpression(pattern: String(pattern.dropFirst())) } catch {
                throw FerryError.invalid("selector '\(selector)': invalid regular expression '\(pattern.dropFirst())'")
            }
            // Python's re.match: anchored at the start only.
            return { name in
                regex.firstMatch(in: name, options: [.anchored], range: NSRange(name.startIndex..., in: name)) != nil
            }
        }
        if pattern.contains(where: { "?*[".contains($0) }) { return { HostPattern.glob(pattern, matches: $0) } }
        return { $0 == pattern }
    }

    private func suggestion(_ name: String) -> String {
        let candidates = region.groupOrder + (region.hostOrder.count < 2000 ? region.hostOrder : [])
        guard let best = nearest(to: name, among: candidates) else {
            return region.groupOrder.isEmpty ? "" : " (groups: \(region.groupOrder.prefix(12).joined(separator: ", ")))"
        }
        return " (did you mean '\(best)'?)"
    }
}
