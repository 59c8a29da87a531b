#!/usr/bin/env python3
"""ferry.1 from `ferry --experimental-dump-help` (swift-argument-parser's description of
every command, argument and option): one man page, a section per subcommand.

usage: manpage.py FERRY_BINARY VERSION > ferry.1
"""
import json
import subprocess
import sys
import datetime


def roff(text):
    text = (text or "").replace("\\", "\\e")
    lines = []
    for line in text.split("\n"):
        # A line starting with . or ' is a roff request: escape it.
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line.replace("-", "\\-"))
    return "\n".join(lines)


def synopsis_of(arg):
    names = arg.get("names") or []
    long_names = [n for n in names if n["kind"] in ("long", "longWithSingleDash")]
    short_names = [n for n in names if n["kind"] == "short"]
    shown = []
    for n in short_names:
        shown.append("\\-" + n["name"])
    for n in long_names:
        shown.append(("\\-" if n["kind"] == "longWithSingleDash" else "\\-\\-") + n["name"].replace("-", "\\-"))
    if arg["kind"] == "positional":
        return "\\fI" + arg.get("valueName", "value") + "\\fR"
    head = ", ".join("\\fB" + s + "\\fR" for s in shown)
    if arg["kind"] == "option":
        head += " \\fI" + arg.get("valueName", "value") + "\\fR"
    return head


def command_section(cmd, path):
    out = []
    name = " ".join(path)
    out.append(".SH " + roff(name.upper()))
    if cmd.get("abstract"):
        out.append(roff(cmd["abstract"]))
    if cmd.get("discussion"):
        out.append(".PP")
        out.append(roff(cmd["discussion"]))
    for arg in cmd.get("arguments", []):
        if not arg.get("shouldDisplay", True):
            continue
        out.append(".TP")
        out.append(synopsis_of(arg))
        text = arg.get("abstract", "")
        if arg.get("defaultValue") not in (None, ""):
            text += " (default: %s)" % arg["defaultValue"]
        out.append(roff(text))
    return out


def main():
    binary, version = sys.argv[1], sys.argv[2]
    data = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True).stdout)
    root = data["command"]
    date = datetime.date.today().strftime("%B %Y")
    out = ['.TH FERRY 1 "%s" "%s" "Ferry Manual"' % (date, roff(version)),
           ".SH NAME", "ferry \\- " + roff(root.get("abstract", "")),
           ".SH SYNOPSIS", "\\fBferry\\fR \\fIcommand\\fR [\\fIoptions\\fR]",
           ".SH DESCRIPTION",
           roff("Ferry runs Lua upgrade runbooks against a region's hosts, journals and times every step, "
                "resumes after a crash, and walks every step back. Each command is described below; "
                "`ferry help COMMAND` prints the same."),
           ".SH COMMANDS"]
    for sub in root.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        out.append(".TP")
        out.append("\\fB" + roff(sub["commandName"]) + "\\fR")
        out.append(roff(sub.get("abstract", "")))
    for sub in root.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        out += command_section(sub, ["ferry", sub["commandName"]])
        for subsub in sub.get("subcommands", []):
            out += command_section(subsub, ["ferry", sub["commandName"], subsub["commandName"]])
    out += [".SH EXIT STATUS",
            "0 done; 1 failed or invalid; 2 bad usage; 3 stopped (resumable); 4 another ferry holds the region or run.",
            ".SH ENVIRONMENT",
            ".TP", "\\fBFERRY_SCRIPTS\\fR", "Ferry's library directory (lib/, runbooks/, regions/, meta/) instead of the installed one.",
            ".TP", "\\fBNO_COLOR\\fR", "No colour on terminals.",
            ".SH FILES",
            ".TP", "\\fB.ferry/journal.db\\fR", "The journal (default \\-\\-journal).",
            ".TP", "\\fIPREFIX\\fB/share/ferry\\fR", "The library: lib/ modules, runbooks/, regions/, meta/ (LuaLS annotations, luacheck globals), init/."]
    print("\n".join(out))


main()
