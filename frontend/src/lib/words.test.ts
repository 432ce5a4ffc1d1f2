import { describe, expect, it } from "vitest";
import { withArticle } from "./words";

describe("withArticle", () => {
  it("says an before a vowel and a before a consonant", () => {
    expect(withArticle("operator")).toBe("an operator");
    expect(withArticle("admin")).toBe("an admin");
    expect(withArticle("requester")).toBe("a requester");
    expect(withArticle("publisher")).toBe("a publisher");
  });
});
