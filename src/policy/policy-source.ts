/**
 * Helpers that map Cedar's source locations back to files and lines. No cedar-wasm here.
 *
 * Cedar reports locations as UTF-8 byte offsets into the text it was given; these helpers work
 * in byte offsets throughout.
 */

/** One policy's span in a policy file, found by a light scan (strings and comments aware). */
export interface PolicySpan {
  /** Byte offset of the policy's first token (its first annotation, or `permit`/`forbid`). */
  readonly start: number;
  /** Byte offset just past the terminating `;` (or the end of the text). */
  readonly end: number;
  /** 1-based line of `start`. */
  readonly line: number;
  /** The `@id("…")` value, when the scan finds one (also in files that do not parse). */
  readonly id: string | undefined;
}

/** A text with its UTF-8 bytes and line starts, for offset → line conversion. */
export class SourceText {
  readonly text: string;
  readonly bytes: Buffer;
  private readonly lineStarts: number[];

  constructor(text: string) {
    this.text = text;
    this.bytes = Buffer.from(text, "utf8");
    this.lineStarts = [0];
    for (let i = 0; i < this.bytes.length; i++) if (this.bytes[i] === 0x0a) this.lineStarts.push(i + 1);
  }

  /** 1-based line number of a byte offset. */
  lineAt(offset: number): number {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.lineStarts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo + 1;
  }
}

const ID_ANNOTATION = /@id\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)/;

/**
 * Splits a policy file into policy spans at top-level `;`, skipping `//` comments and string
 * literals. Cedar has no `;` inside a policy, so this matches Cedar's own split for any file
 * that parses, and gives a best effort for files that do not (to name the policy at an error).
 */
export function splitPolicies(source: SourceText): PolicySpan[] {
  const b = source.bytes;
  const spans: PolicySpan[] = [];
  let start = -1;
  let i = 0;
  const close = (end: number): void => {
    if (start < 0) return;
    const body = b.subarray(start, end).toString("utf8");
    const m = ID_ANNOTATION.exec(stripComments(body));
    spans.push({ start, end, line: source.lineAt(start), id: m ? unescape(m[1] ?? "") : undefined });
    start = -1;
  };
  while (i < b.length) {
    const ch = b[i];
    if (ch === 0x2f && b[i + 1] === 0x2f) {
      while (i < b.length && b[i] !== 0x0a) i++;
      continue;
    }
    if (ch === 0x20 || ch === 0x09 || ch === 0x0a || ch === 0x0d) {
      i++;
      continue;
    }
    if (start < 0) start = i;
    if (ch === 0x22) {
      i++;
      while (i < b.length && b[i] !== 0x22) i += b[i] === 0x5c ? 2 : 1;
      i++;
      continue;
    }
    i++;
    if (ch === 0x3b) close(i);
  }
  close(b.length);
  return spans;
}

/** The span containing a byte offset (or the last one starting before it). */
export function spanAt(spans: readonly PolicySpan[], offset: number): PolicySpan | undefined {
  let found: PolicySpan | undefined;
  for (const s of spans) {
    if (s.start <= offset) found = s;
    else break;
  }
  return found;
}

function stripComments(text: string): string {
  // Good enough for locating `@id(...)`: drops `//` comments that are not inside a string.
  return text.replace(/("(?:[^"\\]|\\.)*")|\/\/[^\n]*/g, (_m, str: string | undefined) => str ?? "");
}

function unescape(s: string): string {
  try {
    return JSON.parse(`"${s}"`) as string;
  } catch {
    return s;
  }
}

/**
 * The character index of the first JSON syntax error in `text`, or undefined when it parses.
 * (Node 20's `JSON.parse` messages do not always say where.)
 */
export function jsonErrorIndex(text: string): number | undefined {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && " \t\r\n".includes(text[i] as string)) i++;
  };
  const fail = (): never => {
    throw i;
  };
  const lit = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else fail();
  };
  const str = (): void => {
    if (text[i] !== '"') fail();
    i++;
    while (i < text.length && text[i] !== '"') {
      if (text.charCodeAt(i) < 0x20) fail();
      i += text[i] === "\\" ? 2 : 1;
    }
    if (i >= text.length) fail();
    i++;
  };
  const value = (): void => {
    ws();
    const ch = text[i];
    if (ch === "{" || ch === "[") {
      const close = ch === "{" ? "}" : "]";
      i++;
      ws();
      if (text[i] === close) return void i++;
      for (;;) {
        if (ch === "{") {
          ws();
          str();
          ws();
          if (text[i] !== ":") fail();
          i++;
        }
        value();
        ws();
        if (text[i] === ",") i++;
        else if (text[i] === close) return void i++;
        else fail();
      }
    }
    if (ch === '"') return str();
    if (ch === "t") return lit("true");
    if (ch === "f") return lit("false");
    if (ch === "n") return lit("null");
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) fail();
    i += (m as RegExpExecArray)[0].length;
  };
  try {
    value();
    ws();
    if (i < text.length) fail();
    return undefined;
  } catch (at) {
    if (typeof at === "number") return Math.min(at, text.length);
    throw at;
  }
}
