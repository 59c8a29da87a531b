import Foundation

/// `ferry exec`: one command on many hosts, results grouped by identical output.
public enum AdHocExec {
    public struct HostResult: Sendable {
        public var host: String
        public var exitCode: Int32?
        public var stdout: String
        public var stderr: String
        public var error: String?
        public var ok: Bool { error == nil && exitCode == 0 }

        public init(host: String, exitCode: Int32?, stdout: String, stderr: String, error: String?) {
            self.host = host
            self.exitCode = exitCode
            self.stdout = stdout
            self.stderr = stderr
            self.error = error
        }
    }

    public struct Group: Sendable {
        public var hosts: [String]
        public var status: String
        public var output: String
    }

    public static func run(_ command: HostCommand, on hosts: [RegionHost], transport: any Transport, parallel: Int,
                           progress: @escaping @Sendable (HostResult) -> Void = { _ in }) async -> [HostResult]
    {
        let results = await FanOut.run(hosts, limit: parallel) { host -> HostResult in
            let capture = OutputCapture(tailBytes: 1 << 20)
            let result: HostResult
            do {
                let r = try await transport.run(command, on: host, output: capture)
                result = HostResult(host: host.name, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr,
                                    error: r.exitCode == nil ? "killed by signal \(r.signal ?? 0)" : nil)
            } catch {
                result = HostResult(host: host.name, exitCode: nil, stdout: "", stderr: "", error: String(describing: error))
            }
            progress(result)
            return result
        }
        let order = Dictionary(uniqueKeysWithValues: hosts.enumerated().map { ($1.name, $0) })
        return results.compactMap { try? $0.1.get() }.sorted { order[$0.host]! < order[$1.host]! }
    }

    /// Hosts with the same status and output, like `dshbak -c`; biggest group first.
    public static func group(_ results: [HostResult]) -> [Group] {
        var groups: [String: Group] = [:]
        var order: [String] = []
        for r in results {
            let status: String
            if let error = r.error {
                // The host name is part of most transport errors; group on the rest.
                status = error.hasPrefix(r.host + ": ") ? String(error.dropFirst(r.host.count + 2)) : error
            } else {
                status = "exit \(r.exitCode ?? -1)"
            }
            var output = r.stdout
            if !r.stderr.isEmpty { output += (output.isEmpty || output.hasSuffix("\n") ? "" : "\n") + r.stderr }
            let key = status + "\u{0}" + output
            if groups[key] == nil {
                groups[key] = Group(hosts: [], status: status, output: output)
                order.append(key)
            }
            groups[key]!.hosts.append(r.host)
        }
        return order.map { groups[$0]! }.sorted { $0.hosts.count > $1.hosts.count }
    }

    /// `cmp[001-003,007],ctl1`: names sharing a prefix and a number width are folded.
    public static func compress(_ names: [String]) -> String {
        var buckets: [String: [(Int, String)]] = [:]
        var bucketOrder: [String] = []
        var plain: [String] = []
        for name in names {
            let digits = name.reversed().prefix { $0.isNumber }
            guard !digits.isEmpty, let n = Int(String(digits.reversed())) else {
                plain.append(name)
                continue
            }
            let prefix = String(name.dropLast(digits.count))
            let key = prefix + "\u{0}" + String(digits.count)
            if buckets[key] == nil { bucketOrder.append(key) }
            buckets[key, default: []].append((n, String(digits.reversed())))
        }
        var parts: [String] = []
        for key in bucketOrder {
            let pieces = key.split(separator: "\u{0}", omittingEmptySubsequences: false)
            let prefix = String(pieces[0])
            let width = Int(pieces[1]) ?? 0
            let numbers = buckets[key]!.sorted { $0.0 < $1.0 }
            if numbers.count == 1 {
                parts.append(prefix + numbers[0].1)
                continue
            }
            var ranges: [String] = []
            var start = numbers[0].0
            var previous = start
            func text(_ n: Int) -> String { let s = String(n); return String(repeating: "0", count: max(0, width - s.count)) + s }
            for (n, _) in numbers.dropFirst() {
                if n == previous + 1 {
                    previous = n
                    continue
                }
                ranges.append(start == previous ? text(start) : "\(text(start))-\(text(previous))")
                start = n
                previous = n
            }
            ranges.append(start == previous ? text(start) : "\(text(start))-\(text(previous))")
            parts.append("\(prefix)[\(ranges.joined(separator: ","))]")
        }
        return (parts + plain).joined(separator: ",")
    }
}
