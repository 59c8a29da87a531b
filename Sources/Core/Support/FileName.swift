/// Names from input (host names, step names, database and region names) as one
/// component of a local path: `/`, `%`, NUL and other control characters are
/// percent-encoded, and `.` / `..` become `%2E` / `%2E%2E`, so a name can neither leave
/// the directory it is written under nor collide with another name (the mapping is
/// one-to-one; an ordinary name such as `cmp001` or `stop-api` is unchanged).
public enum FileName {
    public static func component(_ name: String) -> String {
        if name.isEmpty { return "%" }
        if name == "." { return "%2E" }
        if name == ".." { return "%2E%2E" }
        var out = ""
        out.reserveCapacity(name.utf8.count)
        for scalar in name.unicodeScalars {
            let v = scalar.value
            if scalar == "/" || scalar == "%" || v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v) {
                for byte in String(scalar).utf8 { out += "%" + hex(byte) }
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        // A name too long for one path component keeps its start (and stays unique by
        // its length and a hash of the whole).
        if out.utf8.count > 200 {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for b in name.utf8 {
                hash ^= UInt64(b)
                hash &*= 0x100_0000_01b3
            }
            out = String(decoding: out.utf8.prefix(160), as: UTF8.self) + "%~" + String(hash, radix: 16)
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }
}
