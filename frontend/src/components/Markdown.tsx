/** An item's README: Markdown rendered by marked and sanitized by DOMPurify (READMEs come from imported bundles). */
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useMemo } from "react";

export function Markdown({ source }: { source: string }) {
  // Code blocks and tables scroll sideways: make them focusable so keyboard users can scroll them too.
  const html = useMemo(
    () =>
      DOMPurify.sanitize(marked.parse(source, { async: false, gfm: true }))
        .replaceAll("<pre>", '<pre tabindex="0">')
        .replaceAll("<table>", '<table tabindex="0">'),
    [source],
  );
  return <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
