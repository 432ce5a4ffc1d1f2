/** Small wording helpers for sentences the UI builds from values. */

/** The word with its indefinite article: "an operator", "a requester". */
export function withArticle(word: string): string {
  return `${/^[aeiou]/i.test(word) ? "an" : "a"} ${word}`;
}
