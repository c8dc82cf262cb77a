// A pull's tag expression as the set of tags it accepts, parsed once per distinct expression:
// consumers send the same few expressions with every pull.
import { RaftmqError, TAG_EXPRESSION_LENGTH_MAX, parseTagExpression } from '../../protocol/index.ts';

/** Distinct expressions kept parsed; the oldest is dropped first. */
export const TAG_FILTER_CACHE_COUNT_MAX = 256;

export class TagFilterCache {
  private readonly parsed = new Map<string, ReadonlySet<string> | null>();

  /** The tags `expression` accepts, null for all (absent, `*`, empty). BAD_REQUEST for one that
   *  is not a string or is too long. */
  tagsOf(expression: unknown): ReadonlySet<string> | null {
    if (expression === undefined || expression === null) return null;
    if (typeof expression !== 'string' || expression.length > TAG_EXPRESSION_LENGTH_MAX) {
      throw new RaftmqError('BAD_REQUEST', `expression must be a tag expression (* or TagA || TagB) of at most ${TAG_EXPRESSION_LENGTH_MAX} characters`);
    }
    const hit = this.parsed.get(expression);
    if (hit !== undefined || this.parsed.has(expression)) return hit ?? null;
    const tags = parseTagExpression(expression);
    if (this.parsed.size >= TAG_FILTER_CACHE_COUNT_MAX) this.parsed.delete(this.parsed.keys().next().value as string);
    this.parsed.set(expression, tags);
    return tags;
  }

  get size(): number {
    return this.parsed.size;
  }
}
