/**
 * An item's README: Markdown rendered by marked and sanitized by DOMPurify. READMEs come from imported bundles,
 * so besides scripts, anything that could pose as the portal is removed too: forms and inputs, styles that
 * could cover the page, and images from other sites (which would also tell them who reads the item).
 */
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useMemo } from "react";

const POLICY = {
  FORBID_TAGS: ["form", "input", "button", "select", "textarea", "style", "iframe", "object", "embed"],
  FORBID_ATTR: ["style"],
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "IMG") {
    const src = node.getAttribute("src") ?? "";
    const local = src.startsWith("data:image/") || new URL(src, window.location.href).origin === window.location.origin;
    if (!local) node.removeAttribute("src");
  }
  if (node.tagName === "A" && node.getAttribute("href")?.startsWith("http")) {
    node.setAttribute("rel", "noopener noreferrer");
    node.setAttribute("target", "_blank");
  }
});

/** README HTML that is safe to show inside the portal. */
export function renderReadme(source: string): string {
  // Code blocks and tables scroll sideways: make them focusable so keyboard users can scroll them too.
  return DOMPurify.sanitize(marked.parse(source, { async: false, gfm: true }), POLICY)
    .replaceAll("<pre>", '<pre tabindex="0">')
    .replaceAll("<table>", '<table tabindex="0">');
}

export function Markdown({ source }: { source: string }) {
  const html = useMemo(() => renderReadme(source), [source]);
  return <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
