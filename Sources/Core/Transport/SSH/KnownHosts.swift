import Crypto
import Foundation
import NIOSSH
import Synchronization

/// How strictly host keys are checked.
public enum HostKeyPolicy: String, Sendable, CaseIterable {
    /// A host must be in known_hosts with the key it presents.
    case strict
    /// Unknown hosts are accepted once and recorded in Ferry's own known-hosts file;
    /// a changed key still fails.
    case acceptNew = "accept-new"
}

/// OpenSSH known_hosts files: plain names, `[host]:port`, comma lists, wildcards,
/// negations, hashed `|1|salt|hash` entries, `@revoked` markers.
public final class KnownHosts: Sendable {
    struct Entry: Sendable {
        var patterns: [String]
        var hashed: (salt: [UInt8], hash: [UInt8])?
        var keyType: String
        var keyBase64: String
        var revoked: Bool
        var file: String
        var line: Int
    }

    private struct Index {
        /// Entries whose patterns are plain names, by lower-cased name: most of a large file.
        var exact: [String: [Entry]] = [:]
        /// Hashed entries and entries with wildcards or negations: checked one by one.
        var scanned: [Entry] = []

        mutating func add(_ entries: [Entry]) {
            for e in entries {
                if e.hashed == nil, e.patterns.allSatisfy({ !$0.contains("*") && !$0.contains("?") && !$0.hasPrefix("!") }) {
                    for p in e.patterns { exact[p.lowercased(), default: []].append(e) }
                } else {
                    scanned.append(e)
                }
            }
        }

        func candidates(_ names: [String]) -> [Entry] {
            names.flatMap { exact[$0.lowercased()] ?? [] } + scanned
        }
    }

    private let entries: Mutex<Index>
    /// Where `accept-new` records keys (Ferry's own file).
    public let recordFile: String?
    public let files: [String]

    public init(files: [String], recordFile: String?) {
        var all: [Entry] = []
        for file in files + (recordFile.map { [$0] } ?? []) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            all += Self.parse(text, file: file)
        }
        var index = Index()
        index.add(all)
        entries = Mutex(index)
        self.recordFile = recordFile
        self.files = files
    }

    static func parse(_ text: String, file: String) -> [Entry] {
        var out: [Entry] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            var revoked = false
            if let first = fields.first, first.hasPrefix("@") {
                // @cert-authority lines describe CAs, not host keys: not used for plain keys.
                if first == "@revoked" { revoked = true } else { continue }
                fields.removeFirst()
            }
            guard fields.count >= 3 else { continue }
            var entry = Entry(patterns: [], hashed: nil, keyType: fields[1], keyBase64: fields[2], revoked: revoked, file: file, line: i + 1)
            if fields[0].hasPrefix("|1|") {
                let parts = fields[0].split(separator: "|")
                if parts.count == 3, let salt = Data(base64Encoded: String(parts[1])), let hash = Data(base64Encoded: String(parts[2])) {
                    entry.hashed = (Array(salt), Array(hash))
                } else { continue }
            } else {
                entry.patterns = fields[0].split(separator: ",").map(String.init)
            }
            out.append(entry)
        }
        return out
    }

    /// The name known_hosts uses for a host and port.
    public static func hostKey(_ host: String, port: Int) -> String { port == 22 ? host : "[\(host)]:\(port)" }

    func matches(_ entry: Entry, _ name: String) -> Bool {
        if let (salt, hash) = entry.hashed {
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
            return Array(mac) == hash
        }
        var matched = false
        for pattern in entry.patterns {
            if pattern.hasPrefix("!") {
                if Self.wildcard(String(pattern.dropFirst()), matches: name) { return false }
            } else if Self.wildcard(pattern, matches: name) {
                matched = true
            }
        }
        return matched
    }

    /// OpenSSH's pattern matching: `*` and `?` only (`[` is literal, as in `[host]:port`).
    static func wildcard(_ pattern: String, matches name: String) -> Bool {
        if !pattern.contains("*") && !pattern.contains("?") { return pattern.lowercased() == name.lowercased() }
        let p = Array(pattern.lowercased())
        let n = Array(name.lowercased())
        func match(_ i: Int, _ j: Int) -> Bool {
            if i == p.count { return j == n.count }
            if p[i] == "*" { return (j...n.count).contains { match(i + 1, $0) } }
            guard j < n.count, p[i] == "?" || p[i] == n[j] else { return false }
            return match(i + 1, j + 1)
        }
        return match(0, 0)
    }

    public enum Verdict: Sendable {
        case known
        case unknown
        case mismatch(expected: [String], file: String, line: Int)
        case revoked
    }

    /// Checks the key a server presented under any of `names`.
    public func verify(_ key: NIOSSHPublicKey, names: [String]) -> Verdict {
        let presented = String(openSSHPublicKey: key).split(separator: " ").map(String.init)
        let type = presented[0]
        let base64 = presented[1]
        return entries.withLock { index in
            var mismatch: [Entry] = []
            for entry in index.candidates(names) where names.contains(where: { matches(entry, $0) }) {
                if entry.keyBase64 == base64 {
                    if entry.revoked { return .revoked }
                    return .known
                }
                if !entry.revoked { mismatch.append(entry) }
            }
            // Only a key of the same type proves a change; other types say nothing.
            let sameType = mismatch.filter { $0.keyType == type }
            let relevant = sameType.isEmpty ? mismatch : sameType
            guard let first = relevant.first else { return .unknown }
            let expected = relevant.compactMap { e -> String? in
                guard let wire = Data(base64Encoded: e.keyBase64) else { return nil }
                return "\(e.keyType) SHA256:" + Data(SHA256.hash(data: wire)).base64EncodedString().replacingOccurrences(of: "=", with: "")
            }
            return .mismatch(expected: expected, file: first.file, line: first.line)
        }
    }

    /// Records a key (accept-new) in Ferry's own file.
    public func record(_ key: NIOSSHPublicKey, name: String) throws {
        guard let recordFile else { return }
        let text = "\(name) \(String(openSSHPublicKey: key))\n"
        let url = URL(fileURLWithPath: recordFile)
        if !FileManager.default.fileExists(atPath: url.deletingLastPathComponent().path) {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        }
        if !FileManager.default.fileExists(atPath: recordFile) {
            _ = FileManager.default.createFile(atPath: recordFile, contents: nil, attributes: [.posixPermissions: 0o600])
        }
        // A plain write(2): a full disk throws instead of trapping as FileHandle.write(_:) does.
        let file = try PrivateFile(appendingTo: recordFile)
        defer { file.close() }
        try file.write(Data(text.utf8))
        entries.withLock { $0.add(Self.parse(text, file: recordFile)) }
    }
}
