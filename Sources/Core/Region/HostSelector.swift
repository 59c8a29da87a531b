/// Resolves the host selectors of `on`, `inventory.hosts` and `ferry exec`:
/// `all`, a group, a host, `"group:pattern"` (glob on names), a range such as
/// `cmp[001:010]`, a comma-separated list, or a list of any of these.
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

    public func names(_ selector: String) throws -> [String] {
        let trimmed = selector.trimmingCharacters(in: .whitespaces)
        if trimmed.contains(",") {
            var seen = Set<String>()
            return try trimmed.split(separator: ",").flatMap { try names(String($0)) }.filter { seen.insert($0).inserted }
        }
        if trimmed == "all" || trimmed == "*" { return region.hostOrder }
        if let members = region.groups[trimmed] { return members }
        if region.hosts[trimmed] != nil { return [trimmed] }
        if let colon = trimmed.firstIndex(of: ":"),
            !trimmed[..<colon].contains("["),
            region.groups[String(trimmed[..<colon])] != nil || !trimmed.contains("[")
        {
            let group = String(trimmed[..<colon])
            let pattern = String(trimmed[trimmed.index(after: colon)...])
            let pool: [String]
            if group == "all" || group == "*" {
                pool = region.hostOrder
            } else if let members = region.groups[group] {
                pool = members
            } else {
                throw FerryError.invalid("selector '\(selector)': no group named '\(group)'\(suggestion(group))")
            }
            let matched = pool.filter { HostPattern.glob(pattern, matches: $0) }
            if matched.isEmpty { throw FerryError.invalid("selector '\(selector)' matches no host") }
            return matched
        }
        if trimmed.contains("[") {
            let expanded = try HostPattern.expand(trimmed)
            let missing = expanded.filter { region.hosts[$0] == nil }
            if !missing.isEmpty {
                throw FerryError.invalid("selector '\(selector)': \(missing.count) host(s) not in the region, e.g. \(missing[0])")
            }
            return expanded
        }
        if trimmed.contains("*") || trimmed.contains("?") {
            let matched = region.hostOrder.filter { HostPattern.glob(trimmed, matches: $0) }
            if matched.isEmpty { throw FerryError.invalid("selector '\(selector)' matches no host") }
            return matched
        }
        throw FerryError.invalid("selector '\(selector)' matches no host or group\(suggestion(trimmed))")
    }

    private func suggestion(_ name: String) -> String {
        let candidates = region.groupOrder + (region.hostOrder.count < 2000 ? region.hostOrder : [])
        guard let best = candidates.min(by: { editDistance($0, name) < editDistance($1, name) }),
            editDistance(best, name) <= 3
        else {
            return region.groupOrder.isEmpty ? "" : " (groups: \(region.groupOrder.prefix(12).joined(separator: ", ")))"
        }
        return " (did you mean '\(best)'?)"
    }
}
