#!/usr/bin/env python3
"""Lists C++ function definitions longer than a limit (issue 9: no function over 80 lines).

usage: scripts/fnlen.py [--limit N] [ROOT...]     (roots default to src tools include)

Prints `LINES FILE:LINE SIGNATURE` for each definition over the limit, longest first, and exits 1
when one is found that ALLOWED below does not list, else 0. A definition's lines run from the
first line of its declaration (after any comment) to its closing brace.

The scan is string-aware: string and character literals (raw strings included), comments and
preprocessor lines are blanked before braces are matched, so code inside a literal (the
JavaScript of src/sim/html.cc) is never taken for a function. Braces are classified by the text
that opens them: namespace / extern "C" and class / struct / union / enum bodies are scanned for
the functions inside them; a head ending in `)` (or in const, noexcept, override, final,
mutable, a trailing return type) opens a function body; anything else (initialiser lists,
`= {...}` data) is skipped whole. Lambdas and local classes count toward the function that holds
them.
"""
import os
import re
import sys

LIMIT = 80
ROOTS = ["src", "tools", "include"]
SUFFIXES = (".cc", ".cpp", ".cxx", ".h", ".hpp")

# (path relative to the repository, signature prefix) -> why it may stay over the limit.
ALLOWED = {}

# Literals and comments first, so that a quote inside a comment or a `//` inside a string are
# read as what they are. Raw strings take any delimiter of up to 16 characters.
_LEXEME = re.compile(
    r'(?P<raw>\b(?:u8|[uUL])?R"(?P<delim>[^()\\\s"]{0,16})\((?:.|\n)*?\)(?P=delim)")'
    r'|(?P<str>(?:\b(?:u8|[uUL]))?"(?:\\.|[^"\\\n])*")'
    r"|(?P<chr>(?<![0-9A-Za-z_])(?:u8|[uUL])?'(?:\\.|[^'\\\n])+')"
    r"|(?P<line>//[^\n]*)"
    r"|(?P<block>/\*(?:.|\n)*?\*/)"
    r"|(?P<pp>^[ \t]*#(?:[^\n\\]|\\.|\\\n)*)",
    re.MULTILINE,
)


def blank(text):
    """The text with literals, comments and preprocessor lines replaced by spaces (newlines
    kept, so line numbers hold)."""

    def repl(m):
        s = m.group(0)
        if m.lastgroup in ("raw", "str"):
            return '""' + re.sub(r"[^\n]", " ", s[2:])
        return re.sub(r"[^\n]", " ", s)

    return _LEXEME.sub(repl, text)


_TOKEN = re.compile(r"[{}();]|::|:|[A-Za-z_][A-Za-z_0-9]*|\S")
_BODY_AFTER = {"const", "noexcept", "override", "final", "mutable", "volatile", "try"}
_SCOPES = {"namespace", "extern"}
_TYPES = {"class", "struct", "union", "enum"}
_ACCESS = {"public", "private", "protected"}


def functions(text):
    """Yields (first line, last line, signature) of each function definition in `text`."""
    src = blank(text)
    starts = [0] + [m.end() for m in re.finditer("\n", src)]  # offset of each line
    toks, line = [], 0
    for m in _TOKEN.finditer(src):
        while line + 1 < len(starts) and starts[line + 1] <= m.start():
            line += 1
        toks.append((m.group(0), line + 1, m.start()))
    n = len(toks)

    def skip_braces(i):  # toks[i] is '{'; returns the index of its matching '}'
        depth = 0
        while i < n:
            t = toks[i][0]
            depth += t == "{"
            depth -= t == "}"
            if depth == 0:
                return i
            i += 1
        return n - 1

    def scan(i, end):  # scans toks[i:end] as namespace or class scope
        head = []
        while i < end:
            t, line, at = toks[i]
            if t in (";", "}"):
                head = []
            elif t == ":" and len(head) == 1 and head[0][0] in _ACCESS:
                head = []
            elif t == "{":
                words = [w for w, _, _ in head]
                close = skip_braces(i)
                if words and words[0] in _SCOPES or any(w in _TYPES for w in words):
                    if "(" not in words or any(w in _TYPES for w in words[: words.index("(")]):
                        yield from scan(i + 1, close)
                        head = []
                        i = close + 1
                        continue
                if is_function_head(words):
                    yield head[0][1], toks[close][1], " ".join(text[head[0][2] : at].split())
                    head = []
                    i = close + 1
                    continue
                if in_ctor_init(words):  # a member's brace initialiser: part of the head
                    head.append(("{}", line, at))
                    i = close + 1
                    continue
                head = []
                i = close + 1
                continue
            else:
                head.append((t, line, at))
            i += 1

    yield from scan(0, n)


def top_level_equals(words):
    """An `=` outside parentheses (a variable's initialiser), not one of an operator's name."""
    depth = 0
    in_operator_name = False
    for w in words:
        if w == "operator":
            in_operator_name = True
        elif w == "(" and in_operator_name:
            in_operator_name = False
            depth += 1
        elif w == "(":
            depth += 1
        elif w == ")":
            depth -= 1
        elif w == "=" and depth == 0 and not in_operator_name:
            return True
    return False


def is_function_head(words):
    if "(" not in words or ")" not in words or top_level_equals(words):
        return False
    last = words[-1]
    if last == ")" or last in _BODY_AFTER:
        return True
    # A trailing return type: `auto f(int) -> T {`.
    return "->" in " ".join(words[words.index(")"):]).replace("- >", "->")


def in_ctor_init(words):
    """True when the head is `X(...) : member_(...), member_` and the brace belongs to it."""
    if ")" not in words or ":" not in words:
        return False
    return words.index(")") < len(words) - 1 - words[::-1].index(":") and words[-1] not in "),"


def main(argv):
    limit = LIMIT
    args = argv[1:]
    if len(args) >= 2 and args[0] == "--limit":
        limit = int(args[1])
        args = args[2:]
    roots = args or ROOTS
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = []
    for root in roots:
        paths = [root] if os.path.isfile(root) else sorted(
            os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(SUFFIXES))
        for path in paths:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            for first, last, sig in functions(text):
                lines = last - first + 1
                if lines > limit:
                    found.append((lines, path, first, sig))
    bad = 0
    for lines, path, first, sig in sorted(found, key=lambda x: (-x[0], x[1], x[2])):
        rel = os.path.relpath(os.path.abspath(path), repo)
        why = next((r for (p, s), r in ALLOWED.items() if p == rel and sig.startswith(s)), None)
        print(f"{lines} {path}:{first} {sig[:100]}" + (f"  (allowed: {why})" if why else ""))
        bad += why is None
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
