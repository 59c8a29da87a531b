import Foundation

/// Where Ferry's Lua library (lib/, runbooks/, regions/, meta/) is found, and which build
/// this is.
///
/// In a checkout the library is `scripts/`; installed (`scripts/install PREFIX`) it is
/// `PREFIX/share/ferry`, beside `PREFIX/bin/ferry`, with a `BUILD` file naming the commit.
public enum FerryLibrary {
    /// Ferry's release number; `--version` adds the commit it was built from.
    public static let release = "0.22.0"

    /// The running executable, symlinks resolved (`/proc/self/exe`).
    static var executable: String? {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
    }

    /// `PREFIX/share/ferry` for an executable at `PREFIX/bin/ferry`, when it holds `lib/`.
    public static var installed: String? {
        guard let exe = executable else { return nil }
        let prefix = URL(fileURLWithPath: exe).deletingLastPathComponent().deletingLastPathComponent()
        let share = prefix.appendingPathComponent("share/ferry").path
        return FileManager.default.fileExists(atPath: share + "/lib") ? share : nil
    }

    /// The library directory runbooks `require` from: `FERRY_SCRIPTS`; else the nearest
    /// ancestor of the runbook's directory named `scripts` or holding `scripts/lib` (a
    /// checkout); else the installed library.
    public static func root(near directory: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let env = environment["FERRY_SCRIPTS"], !env.isEmpty { return env }
        if let directory, let found = ancestor(of: directory) { return found }
        return installed
    }

    static func ancestor(of directory: String) -> String? {
        var url = URL(fileURLWithPath: directory)
        for _ in 0..<12 {
            if url.lastPathComponent == "scripts", FileManager.default.fileExists(atPath: url.path + "/lib") { return url.path }
            if FileManager.default.fileExists(atPath: url.path + "/scripts/lib") { return url.path + "/scripts" }
            let parent = url.deletingLastPathComponent()
            if parent.path == url.path { break }
            url = parent
        }
        return nil
    }

    /// This ferry's own library, wherever it is run from: `FERRY_SCRIPTS`, else the
    /// installed one, else `scripts/` of the checkout it was built in.
    public static func own(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let env = environment["FERRY_SCRIPTS"], !env.isEmpty { return env }
        if let installed { return installed }
        let scripts = checkout + "/scripts"
        return FileManager.default.fileExists(atPath: scripts + "/lib") ? scripts : nil
    }

    /// The library of the working directory (a checkout's `scripts/`, `FERRY_SCRIPTS`, or
    /// the installed one): where bare region and runbook names are looked up.
    public static var current: String? {
        root(near: FileManager.default.currentDirectoryPath)
    }

    /// `NAME.yaml` (or `.yml`) under the library's `regions/`.
    public static func region(named name: String) -> String? {
        guard !name.contains("/"), let root = current else { return nil }
        return ["\(root)/regions/\(name).yaml", "\(root)/regions/\(name).yml"].first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A library runbook (`runbooks/NAME`, a directory or `NAME.lua`).
    public static func runbook(named name: String) -> String? {
        guard !name.contains("/"), let root = current else { return nil }
        return ["\(root)/runbooks/\(name)", "\(root)/runbooks/\(name).lua"].first { FileManager.default.fileExists(atPath: $0) }
    }

    /// `ferry 0.22.0 (commit …)`: the commit from the installed `BUILD` file, or of the
    /// checkout this binary was built from when it is still there.
    public static var versionText: String {
        var parts = ["ferry \(release)"]
        if let installed, let build = try? String(contentsOfFile: installed + "/BUILD", encoding: .utf8) {
            let fields = Dictionary(build.split(separator: "\n").compactMap { line -> (String, String)? in
                let kv = line.split(separator: "=", maxSplits: 1).map(String.init)
                return kv.count == 2 ? (kv[0], kv[1]) : nil
            }, uniquingKeysWith: { a, _ in a })
            parts.append("(commit \(fields["commit"] ?? "unknown")\(fields["built"].map { ", built \($0)" } ?? ""), library \(installed))")
        } else if let commit = checkoutCommit {
            parts.append("(commit \(commit), checkout \(checkout))")
        } else {
            parts.append("(commit unknown)")
        }
        return parts.joined(separator: " ")
    }

    /// The checkout this file was compiled in.
    static var checkout: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }

    static var checkoutCommit: String? {
        guard FileManager.default.fileExists(atPath: checkout + "/.git") else { return nil }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", checkout, "describe", "--always", "--dirty", "--abbrev=12"]
        let out = Pipe()
        git.standardOutput = out
        git.standardError = FileHandle.nullDevice
        guard (try? git.run()) != nil else { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return git.terminationStatus == 0 && !text.isEmpty ? text : nil
    }
}
