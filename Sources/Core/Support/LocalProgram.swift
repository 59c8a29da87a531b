import Foundation

/// Runs a program on the Ferry machine and waits for it (`ansible-inventory`, a vault
/// password script): no standard input, standard output read whole, standard error kept
/// in a private temporary file (reading two pipes in turn can deadlock when the second
/// fills). Blocks the calling thread; for short programs run while a region loads or a
/// secret is resolved.
enum LocalProgram {
    struct Result {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Throws what launching it threw (callers say what they were running); any exit status returns.
    static func run(_ path: String, arguments: [String] = [], environment: [String: String]? = nil) throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        if let environment { p.environment = environment }
        let out = Pipe()
        let errPath = NSTemporaryDirectory() + "ferry-program-\(getpid())-\(UUID().uuidString).err"
        FileManager.default.createFile(atPath: errPath, contents: nil, attributes: [.posixPermissions: 0o600])
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        guard let errHandle = FileHandle(forWritingAtPath: errPath) else {
            throw FerryError.failed("cannot create \(errPath)")
        }
        defer { try? errHandle.close() }
        p.standardOutput = out
        p.standardError = errHandle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let stderr = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
        return Result(status: p.terminationStatus, stdout: data, stderr: stderr)
    }
}
