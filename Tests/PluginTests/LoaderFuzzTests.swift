import FerryCore
import FerryPlugins
import FerryTestSupport
import Foundation
import LuaBridge
import Synchronization
import Testing

/// The region and runbook loaders against random and mutated input (issue 11): the example
/// regions (scripts/regions) and runbooks (scripts/runbooks) with bytes flipped, cut,
/// repeated, spliced with each other, salted with tokens, nested deep, stretched long,
/// NULs and invalid UTF-8, and text made up from tokens. Each case either loads or throws
/// a ``FerryError`` (or ``ValidationErrors``) with a message; anything else (another
/// error, an empty message, a crash, a hang) is a bug. The seed is printed
/// (`FERRY_FUZZ_SEED` replays it); `FERRY_FUZZ_CASES` sets the count (`scripts/fuzz`).
/// A case that fails is kept under `$TMPDIR/ferry-fuzz-<seed>/` to replay it.
@Suite(.serialized) struct LoaderFuzzTests {
    /// One seed for both tests of a run.
    static let seed: UInt64 =
        ProcessInfo.processInfo.environment["FERRY_FUZZ_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1..<UInt64.max)
    static var cases: Int { ProcessInfo.processInfo.environment["FERRY_FUZZ_CASES"].flatMap { Int($0) } ?? 2000 }

    @Test func regionLoaderLoadsOrRefusesEveryMutatedRegion() async throws {
        let seed = Self.seed
        print("fuzz regions: seed \(seed) (replay with FERRY_FUZZ_SEED=\(seed)), \(Self.cases) cases")
        var random = SeededRandom(seed: seed)
        let corpus = try Fuzz.corpus("scripts/regions", suffix: ".yaml")
        let scratch = try Fuzz.scratch(seed: seed, kind: "regions")
        // Regions name other files (extends:, inventories) beside them: they come along.
        for file in corpus { try? FileManager.default.copyItem(atPath: file.path, toPath: scratch + "/" + file.name) }
        var tally = Fuzz.Tally()
        for index in 0..<Self.cases {
            // Loading a region never waits: give the other tests the cooperative thread between cases.
            await Task.yield()
            let (text, how) = Fuzz.mutate(corpus, tokens: Fuzz.yamlTokens, random: &random)
            let path = scratch + "/case-\(index).yaml"
            try text.write(to: URL(fileURLWithPath: path))
            let outcome = Fuzz.watch("region case \(index) (\(how)) in \(path)") { () -> Result<Void, any Error> in
                Result { _ = try RegionLoader.load(path: path) }
            }
            if tally.judge(outcome, case: "region case \(index) (\(how)): \(path)") { try? FileManager.default.removeItem(atPath: path) }
        }
        print("fuzz regions: \(tally)")
        #expect(tally.bugs.isEmpty, "\(tally.bugs.prefix(10).joined(separator: "\n")) [seed \(seed)]")
        if tally.bugs.isEmpty { Fuzz.remove(scratch) }
    }

    @Test func runbookLoaderLoadsOrRefusesEveryMutatedRunbook() async throws {
        let seed = Self.seed
        let count = max(1, Self.cases * 3 / 4)
        print("fuzz runbooks: seed \(seed) (replay with FERRY_FUZZ_SEED=\(seed)), \(count) cases")
        var random = SeededRandom(seed: seed)
        let corpus = try Fuzz.corpus("scripts/runbooks", suffix: ".lua") + Fuzz.corpus("scripts/lib", suffix: ".lua")
        let scratch = try Fuzz.scratch(seed: seed, kind: "runbooks")
        // The library the runbooks require, found as scripts/lib beside the cases.
        try FileManager.default.copyItem(atPath: Repository.root + "/scripts/lib", toPath: scratch + "/scripts/lib")
        var tally = Fuzz.Tally()
        for index in 0..<count {
            await Task.yield()
            let (text, how) = Fuzz.mutate(corpus, tokens: Fuzz.luaTokens, random: &random)
            let path = scratch + "/case-\(index).lua"
            try text.write(to: URL(fileURLWithPath: path))
            // A small instruction budget: a case that loops is stopped quickly, as a real one would be later.
            let outcome = await Fuzz.watch("runbook case \(index) (\(how)) in \(path)") { () async -> Result<Void, any Error> in
                do {
                    _ = try await RunbookLoader.load(path: path, extensions: PluginRegistry.extensions, instructionBudget: 2_000_000)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            if tally.judge(outcome, case: "runbook case \(index) (\(how)): \(path)") { try? FileManager.default.removeItem(atPath: path) }
        }
        print("fuzz runbooks: \(tally)")
        #expect(tally.bugs.isEmpty, "\(tally.bugs.prefix(10).joined(separator: "\n")) [seed \(seed)]")
        if tally.bugs.isEmpty { Fuzz.remove(scratch) }
    }
}

/// The mutations, the corpus, and the judge of each case.
enum Fuzz {
    struct File {
        var name: String
        var path: String
        var bytes: [UInt8]
    }

    /// Each `suffix` file under `directory` (recursively) of the repository.
    static func corpus(_ directory: String, suffix: String) throws -> [File] {
        let root = Repository.root + "/" + directory
        let names = (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(suffix) }.sorted()
        let files = try names.map { name in
            File(name: name.replacingOccurrences(of: "/", with: "-"), path: root + "/" + name,
                 bytes: Array(try Data(contentsOf: URL(fileURLWithPath: root + "/" + name))))
        }
        guard !files.isEmpty else { throw FerryError.failed("no \(suffix) files under \(root)") }
        return files
    }

    static func scratch(seed: UInt64, kind: String) throws -> String {
        let dir = NSTemporaryDirectory() + "ferry-fuzz-\(seed)/\(kind)"
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Removes a scratch directory, and the seed's directory once it is empty.
    static func remove(_ scratch: String) {
        try? FileManager.default.removeItem(atPath: scratch)
        rmdir(URL(fileURLWithPath: scratch).deletingLastPathComponent().path)
    }

    static let yamlTokens = [
        ":", ": ", "- ", "-", "{", "}", "[", "]", ",", "&a ", "*a", "!!str ", "!!map ", "!!binary ", "!custom ", "? ", "|", ">", "---\n",
        "...\n", "%YAML 1.2\n", "%TAG ! tag:x,2000:\n", "\t", "  ", "\n", "#", "\"", "'", "\\", "~", "null", "true", "0x1F", "1e999",
        "-.inf", ".nan", "<<: ", "extends: ", "hosts:", "groups:", "inventory:", "address: ", "user: ", "vars:", "ssh:", "simulate:",
        "computes: ", "region: ", "cmp[001:999999999]", "[a:z]", "ansible: ", "password: { env: X }", "{ file: /etc/shadow }",
    ]

    static let luaTokens = [
        "end", "function", "(", ")", "{", "}", "[", "]", "=", "==", "..", "...", ",", ";", ":", "::", "goto", "local", "return",
        "if", "then", "else", "do", "step", "check", "runbook", "\"", "'", "[[", "]]", "[==[", "--", "--[[", "\\", "\\x", "\\u{110000}",
        "\\z", "#", "~=", "<<", "//", "0x", "1e309", "nil", "true", "_ENV", "_G", "require", "setmetatable", "rawset",
        "on = ", "run = ", "undo = ", "parallel = ", "batch = ", "timeout = ", "retries = ", "tags = ", "\n", " ", "\t",
        "h:run(", "ctx.state", "string.rep('x', 1e5)", "pcall(", "error(", "load(", "utf8.char(", "os.exit()", "io.open(",
    ]

    /// One case: a mutated corpus file (or two spliced, or made-up text), and how it was made.
    static func mutate(_ corpus: [File], tokens: [String], random: inout SeededRandom) -> (Data, String) {
        var bytes = corpus.randomElement(using: &random)!.bytes
        var how: [String] = []
        let rounds = Int.random(in: 1...4, using: &random)
        for _ in 0..<rounds {
            let n = bytes.count
            let at = n == 0 ? 0 : Int.random(in: 0...n, using: &random)
            switch Int.random(in: 0..<13, using: &random) {
            case 0 where n > 0:
                for _ in 0..<Int.random(in: 1...8, using: &random) {
                    bytes[Int.random(in: 0..<n, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
                }
                how.append("flip")
            case 1:
                bytes = Array(bytes[..<at])
                how.append("cut@\(at)")
            case 2 where n > 0:
                let end = min(n, at + Int.random(in: 1...400, using: &random))
                let piece = bytes[min(at, n - 1)..<end]
                let times = Int.random(in: 1...(Bool.random(using: &random) ? 3 : 200), using: &random)
                bytes.insert(contentsOf: Array(repeating: Array(piece), count: times).joined(), at: at)
                how.append("dup\(times)")
            case 3:
                let other = corpus.randomElement(using: &random)!.bytes
                let from = Int.random(in: 0...other.count, using: &random)
                bytes = Array(bytes[..<at]) + Array(other[from...])
                how.append("splice")
            case 4, 5:
                var salt = ""
                for _ in 0..<Int.random(in: 1...12, using: &random) { salt += tokens.randomElement(using: &random)! }
                bytes.insert(contentsOf: Array(salt.utf8), at: at)
                how.append("tokens")
            case 6:
                let depth = [65, 200, 1000, 20_000].randomElement(using: &random)!
                let (open, close) = [("[", "]"), ("{", "}"), ("(", ")"), ("- ", ""), ("a: ", ""), ("{a=", "}")].randomElement(using: &random)!
                let nest = String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
                bytes.insert(contentsOf: Array(nest.utf8), at: at)
                how.append("nest\(depth)")
            case 7:
                let length = [1000, 70_000, 300_000].randomElement(using: &random)!
                let quote = ["\"", "'", "", "[["].randomElement(using: &random)!
                let long = quote + String(repeating: "x", count: length) + (quote == "[[" ? "]]" : quote)
                bytes.insert(contentsOf: Array(long.utf8), at: at)
                how.append("long\(length)")
            case 8:
                bytes.insert(contentsOf: Array(repeating: 0, count: Int.random(in: 1...4, using: &random)), at: at)
                how.append("nul")
            case 9:
                let invalid: [[UInt8]] = [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x80], [0xE2, 0x82], [0xEF, 0xBB, 0xBF]]
                bytes.insert(contentsOf: invalid.randomElement(using: &random)!, at: at)
                how.append("utf8")
            case 10 where n > 1:
                let a = Int.random(in: 0..<n, using: &random)
                let b = min(n, a + Int.random(in: 1...200, using: &random))
                bytes.removeSubrange(a..<b)
                how.append("delete")
            case 11:
                var made = ""
                for _ in 0..<Int.random(in: 1...200, using: &random) {
                    made += tokens.randomElement(using: &random)!
                    if Bool.random(using: &random) { made += String(Int.random(in: 0..<1000, using: &random)) }
                }
                bytes = Array(made.utf8)
                how.append("random")
            default:
                let control = (0..<Int.random(in: 1...6, using: &random)).map { _ in UInt8.random(in: 0..<32, using: &random) }
                bytes.insert(contentsOf: control, at: at)
                how.append("control")
            }
        }
        return (Data(bytes), how.joined(separator: "+"))
    }

    /// What the cases came to.
    struct Tally: CustomStringConvertible {
        var loaded = 0
        var refused = 0
        var bugs: [String] = []

        /// Judges one case; true when it is fine (its file may go).
        mutating func judge(_ outcome: Result<Void, any Error>, case name: String) -> Bool {
            switch outcome {
            case .success:
                loaded += 1
                return true
            case .failure(let error as FerryError) where !error.message.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty:
                refused += 1
                return true
            case .failure(let error as ValidationErrors) where !error.problems.isEmpty && error.problems.allSatisfy({ !$0.isEmpty }):
                refused += 1
                return true
            case .failure(let error):
                bugs.append("\(name): \(type(of: error)): \(String(describing: error).prefix(300))")
                return false
            }
        }

        var description: String { "\(loaded) loaded, \(refused) refused with a message, \(bugs.count) bug(s)" }
    }

    /// Runs a case, watched: one that runs past a minute is a hang, reported with its file
    /// before the process is stopped (a hang in C cannot be cancelled from here).
    static func watch<T>(_ name: String, _ body: () throws -> T) rethrows -> T {
        let token = Watchdog.shared.start(name)
        defer { Watchdog.shared.stop(token) }
        return try body()
    }

    static func watch<T>(_ name: String, _ body: () async throws -> T) async rethrows -> T {
        let token = Watchdog.shared.start(name)
        defer { Watchdog.shared.stop(token) }
        return try await body()
    }
}

/// One thread that checks the case running now every second.
final class Watchdog: Sendable {
    static let shared = Watchdog()
    static let limit: Double = 60
    private let current = Mutex<(token: Int, name: String, since: Date)?>(nil)
    private let counter = Atomic<Int>(0)

    private init() {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: 1)
                if let c = current.withLock({ $0 }), Date().timeIntervalSince(c.since) > Self.limit {
                    try? FileHandle.standardError.write(contentsOf: Data("fuzz: \(c.name) has run for more than \(Int(Self.limit)) s: a hang\n".utf8))
                    abort()
                }
            }
        }
        thread.start()
    }

    func start(_ name: String) -> Int {
        let token = counter.add(1, ordering: .relaxed).newValue
        current.withLock { $0 = (token, name, Date()) }
        return token
    }

    func stop(_ token: Int) {
        current.withLock { if $0?.token == token { $0 = nil } }
    }
}
