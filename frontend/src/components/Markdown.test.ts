import { describe, expect, it } from "vitest";
import { renderReadme } from "./Markdown";

describe("renderReadme", () => {
  it("renders Markdown", () => {
    expect(renderReadme("# Title\n\n`code`")).toContain("<h1>Title</h1>");
  });
  it("removes scripts, forms, inputs, styles and foreign images", () => {
    const html = renderReadme(
      [
        "<script>alert(1)</script>",
        '<form action="https://evil.example"><input type="password" name="p"><button>Log in</button></form>',
        '<div style="position:fixed;inset:0">cover</div>',
        '<img src="https://tracker.example/pixel.png" alt="t"><img src="/local.png" alt="l">',
        '<a href="javascript:alert(1)">x</a>',
      ].join("\n"),
    );
    for (const banned of ["<script", "<form", "<input", "<button", "style=", "tracker.example", "javascript:"]) {
      expect(html).not.toContain(banned);
    }
    expect(html).toContain('src="/local.png"');
  });
  it("opens links to other sites in a new tab without a referrer", () => {
    expect(renderReadme("[docs](https://example.org)")).toContain('rel="noopener noreferrer"');
  });
});
