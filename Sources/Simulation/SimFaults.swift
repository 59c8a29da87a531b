import FerryCore
import Foundation
import Synchronization

/// The region's injected faults (`simulate.faults`) and its randomness: every random choice
/// (a fault's `probability`, jitter, overload failures, dump times) is a hash of the region's
/// `seed` and a key, and keys that change with time use the seconds since the region's
/// timeline began, so the same seed and the same history give the same results.
final class SimFaults: Sendable {
    let faults: [SimFault]
    let seed: UInt64
    let region: Region
    let clock: VirtualClock
    /// Where the region's own timeline began (saved with the model).
    let origin: Mutex<Double>

    init(config: SimConfig, region: Region, clock: VirtualClock, origin: Double) {
        faults = config.faults
        seed = config.seed
        self.region = region
        self.clock = clock
        self.origin = Mutex(origin)
    }

    /// A repeatable number in 0..<1 for a key (FNV-1a over the seed and the key).
    func random(_ key: String) -> Double {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ seed
        for b in key.utf8 {
            h ^= UInt64(b)
            h = h &* 0x100_0000_01b3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return Double(h >> 11) / Double(1 << 53)
    }

    /// Whole seconds since the region's timeline began (for repeatable random keys).
    func elapsed(_ t: Double) -> Int { Int(t - origin.withLock { $0 }) }

    /// The faults matching a command on a host, or a primitive, in the step running now.
    func matching(host: String?, command: String?, release: String?, primitive: String?) -> [SimFault] {
        let step = clock.step
        return faults.filter { f in
            if let p = f.primitive { if p != primitive { return false } } else if primitive != nil { return false }
            if let h = f.host, h != host { return false }
            if let g = f.group { guard let host, region.hosts[host]?.groups.contains(g) == true else { return false } }
            if let s = f.step, s != step { return false }
            if let c = f.command { guard let command, command.contains(c) else { return false } }
            if let r = f.release, r != release { return false }
            if f.probability < 1 {
                return random("fault|\(f.kind)|\(host ?? "")|\(step ?? "")|\(command ?? primitive ?? "")") < f.probability
            }
            return true
        }
    }

    /// The faults that make a primitive fail (`unreachable`, `fail`), once any `hold`
    /// on it is released; `slow` ones do not fail it.
    func failing(primitive: String, host: String?) async throws -> [SimFault] {
        let found = matching(host: host, command: nil, release: nil, primitive: primitive)
        for f in found where f.kind == .hold {
            if let file = f.until { try await SimTransport.waitForFile(file) }
        }
        return found.filter { $0.kind == .fail || $0.kind == .unreachable }
    }
}
