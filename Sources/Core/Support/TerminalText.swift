/// Text from hosts and runbooks on its way to the operator's terminal. Command output
/// and log lines may hold escape sequences (ESC, CSI) that recolour, move the cursor,
/// rewrite the screen or set the window title; shown raw, a host could make the
/// terminal lie about a run. Control characters are shown as visible escapes instead
/// (`\x1b[2J`), except newline and tab. Files (command output, the journal) keep the raw bytes.
public enum TerminalText {
    public static func neutralized(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if needsEscape(scalar) {
                out.append(contentsOf: "\\x".unicodeScalars)
                let hex = String(scalar.value, radix: 16)
                out.append(contentsOf: (hex.count < 2 ? "0" + hex : hex).unicodeScalars)
            } else {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// C0 controls but newline and tab, DEL, and the C1 controls (U+0080–U+009F, among
    /// them CSI, U+009B, which some terminals read as ESC [).
    static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v == 0x0A || v == 0x09 { return false }
        return v < 0x20 || v == 0x7F || (0x80...0x9F).contains(v)
    }
}
