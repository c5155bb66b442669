/**
 * Command-line words and flags: splitting a shell line into words (with quotes), and parsing the
 * words of one command against the flags it accepts.
 *
 * @module
 */

/** A mistake in how a command was written (unknown flag, missing argument...): exit code 2. */
export class UsageError extends Error {
  readonly code = 'USAGE'
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

/** What a flag takes: nothing (`boolean`), a word (`string`), or a non-negative integer (`integer`). */
export type FlagKind = 'boolean' | 'string' | 'integer'

/** One flag a command accepts. */
export interface FlagSpec {
  readonly kind: FlagKind
  /** One-letter alias, without the dash (`w` for `-w`). */
  readonly short?: string
  /** Shown in help. */
  readonly help?: string
  /** The placeholder shown in help for the value (`<ms>`). */
  readonly value?: string
  /** A `string` flag that may be given several times; its value is then the list. */
  readonly repeat?: boolean
}

/** The flags a command accepts, by long name (without the dashes). */
export type FlagSpecs = Readonly<Record<string, FlagSpec>>

/** The value of each flag given (booleans are `true`; integers are numbers). */
export type FlagValues = Record<string, string | number | boolean | string[] | undefined>

/** Parsed words: positionals in order, and the flags given. */
export interface ParsedArgs {
  readonly positionals: string[]
  readonly flags: FlagValues
}

/**
 * Parses `words` against `specs`. Flags may come anywhere: `--name value`, `--name=value`,
 * `-n value`, and `--` ends the flags. A lone `-` is a positional (it means standard input).
 * Throws {@link UsageError} on an unknown flag, a missing value or a malformed integer.
 */
export function parseArgs(words: readonly string[], specs: FlagSpecs): ParsedArgs {
  const positionals: string[] = []
  const flags: FlagValues = {}
  const byShort = new Map<string, string>()
  for (const [name, spec] of Object.entries(specs)) if (spec.short !== undefined) byShort.set(spec.short, name)
  for (let i = 0; i < words.length; i++) {
    const word = words[i]
    if (word === '--') {
      positionals.push(...words.slice(i + 1))
      break
    }
    if (!word.startsWith('-') || word === '-') {
      positionals.push(word)
      continue
    }
    let name: string
    let inline: string | undefined
    if (word.startsWith('--')) {
      const eq = word.indexOf('=')
      name = eq === -1 ? word.slice(2) : word.slice(2, eq)
      inline = eq === -1 ? undefined : word.slice(eq + 1)
    } else {
      const long = byShort.get(word.slice(1, 2))
      if (long === undefined) throw new UsageError(`unknown flag ${word}`)
      name = long
      inline = word.length > 2 ? word.slice(word[2] === '=' ? 3 : 2) : undefined
    }
    const spec = Object.hasOwn(specs, name) ? specs[name] : undefined
    if (spec === undefined) throw new UsageError(`unknown flag --${name}`)
    if (spec.kind === 'boolean') {
      if (inline === undefined) flags[name] = true
      else if (inline === 'true' || inline === 'false') flags[name] = inline === 'true'
      else throw new UsageError(`--${name} takes no value (or =true / =false)`)
      continue
    }
    let raw = inline
    if (raw === undefined) {
      if (i + 1 >= words.length) throw new UsageError(`--${name} needs a value`)
      raw = words[++i]
    }
    if (spec.repeat === true) {
      const list = flags[name]
      flags[name] = Array.isArray(list) ? [...list, raw] : [raw]
    } else {
      flags[name] = spec.kind === 'integer' ? parseInteger(raw, `--${name}`) : raw
    }
  }
  return { positionals, flags }
}

/** A non-negative safe integer, decimal or `0x` hexadecimal; else a {@link UsageError} naming `what`. */
export function parseInteger(raw: string, what: string): number {
  const text = raw.trim()
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text.slice(2), 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN
  if (!Number.isSafeInteger(n)) throw new UsageError(`${what} must be a non-negative integer, got '${raw}'`)
  return n
}

/** A positive safe integer (an id, a TTL); else a {@link UsageError}. */
export function parsePositive(raw: string, what: string): number {
  const n = parseInteger(raw, what)
  if (n === 0) throw new UsageError(`${what} must be positive`)
  return n
}

/**
 * Splits one line into words as a POSIX shell would for plain words: blanks separate words;
 * 'single quotes' keep everything literally; "double quotes" keep blanks and honour `\"`, `\\`,
 * `\n` and `\t`; outside quotes, a backslash keeps the next character. An unterminated quote is
 * a {@link UsageError}.
 */
export function splitWords(line: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (inWord) words.push(word)
      word = ''
      inWord = false
      continue
    }
    inWord = true
    if (ch === "'") {
      const end = line.indexOf("'", i + 1)
      if (end === -1) throw new UsageError('unterminated single quote')
      word += line.slice(i + 1, end)
      i = end
    } else if (ch === '"') {
      let j = i + 1
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\' && j + 1 < line.length) {
          const next = line[++j]
          word += next === 'n' ? '\n' : next === 't' ? '\t' : next === '"' || next === '\\' ? next : `\\${next}`
        } else {
          word += line[j]
        }
      }
      if (j >= line.length) throw new UsageError('unterminated double quote')
      i = j
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i]
    } else {
      word += ch
    }
  }
  if (inWord) words.push(word)
  return words
}

/** Quotes `word` so that {@link splitWords} gives it back unchanged (for history and help). */
export function quoteWord(word: string): string {
  if (word !== '' && /^[\w@%+=:,./-]+$/.test(word)) return word
  return `'${word.replaceAll("'", `'\\''`)}'`
}
