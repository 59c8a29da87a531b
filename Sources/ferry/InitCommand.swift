import ArgumentParser
import FerryCore
import Foundation

/// `ferry init DIR`: a runbook repository to start from — an example runbook that drills on
/// the simulated region, a helper module under lib/, and editor and lint settings that
/// point at this ferry's library (its LuaLS annotations and luacheck globals).
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Make a runbook repository: an example runbook and region, lib/, .luarc.json, .luacheckrc.")
    @Argument(help: "The directory to make (it must not exist, or be empty).") var directory: String

    func run() async throws {
        try await guarded {
            guard let library = FerryLibrary.own() else {
                throw FerryError.failed("init: cannot find Ferry's library (install Ferry with scripts/install, or set FERRY_SCRIPTS)")
            }
            let skeleton = library + "/init"
            let fm = FileManager.default
            guard fm.fileExists(atPath: skeleton + "/region.yaml") else {
                throw FerryError.failed("init: the library at \(library) has no init/ skeleton")
            }
            let target = URL(fileURLWithPath: directory).standardizedFileURL.path
            var isDirectory: ObjCBool = false
            if fm.fileExists(atPath: target, isDirectory: &isDirectory) {
                guard isDirectory.boolValue else { throw FerryError.failed("init: \(directory) exists and is not a directory") }
                let present = try fm.contentsOfDirectory(atPath: target)
                guard present.isEmpty else {
                    throw FerryError.failed("init: \(directory) is not empty (it holds \(present.sorted().prefix(3).joined(separator: ", "))\(present.count > 3 ? ", …" : "")); nothing written")
                }
            }
            try fm.createDirectory(atPath: target, withIntermediateDirectories: true)
            var written: [String] = []
            let files = (fm.enumerator(atPath: skeleton)?.allObjects as? [String] ?? []).sorted()
            for relative in files {
                let source = skeleton + "/" + relative
                guard fm.fileExists(atPath: source, isDirectory: &isDirectory) else { continue }
                if isDirectory.boolValue {
                    try fm.createDirectory(atPath: target + "/" + relative, withIntermediateDirectories: true)
                } else {
                    try fm.copyItem(atPath: source, toPath: target + "/" + relative)
                    written.append(relative)
                }
            }
            try Self.luarc(library: library).write(toFile: target + "/.luarc.json", atomically: true, encoding: .utf8)
            try Self.luacheckrc(library: library).write(toFile: target + "/.luacheckrc", atomically: true, encoding: .utf8)
            written += [".luarc.json", ".luacheckrc"]
            Console.out("ferry init: wrote \(written.joined(separator: ", ")) in \(directory) (library \(library))")
            Console.out("next: cd \(directory) && ferry validate . && ferry drill . -r region.yaml --times 2")
            return 0
        }
    }

    /// LuaLS: Ferry's annotations (meta/ferry.lua) and the library's modules (`require "lib.upgrade"`).
    static func luarc(library: String) throws -> String {
        let settings: [String: Any] = [
            "$schema": "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
            "runtime.version": "Lua 5.4",
            "runtime.path": ["?.lua", "?/init.lua"],
            "workspace.library": [library + "/meta", library],
            "workspace.checkThirdParty": false,
        ]
        let data = try JSONSerialization.data(withJSONObject: settings, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// A Lua string literal (a path: backslashes and quotes escaped, control characters as \ddd).
    static func luaString(_ s: String) -> String {
        var out: [UInt8] = [UInt8(ascii: "\"")]
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\\"), UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), b]
            case 0..<32, 127: out += Array(String(format: "\\%03d", b).utf8)
            default: out.append(b)
            }
        }
        return String(decoding: out + [UInt8(ascii: "\"")], as: UTF8.self)
    }

    static func luacheckrc(library: String) -> String {
        """
        -- luacheck settings for this runbook repository: Ferry's globals and the Lua its sandbox
        -- leaves, from the library of the ferry that wrote this file (`ferry init`).
        local ferry = dofile(\(luaString(library + "/meta/luacheck.lua")))
        std, not_globals, read_globals = ferry.std, ferry.not_globals, ferry.read_globals
        max_line_length, ignore = ferry.max_line_length, ferry.ignore

        """
    }
}
