/** An item's README: Markdown rendered by marked and sanitized by DOMPurify (READMEs come from imported bundles). */
import DOMPurify from "dompurify";
import { marked } from "marked";
import { useMemo } from "react";

export function Markdown({ source }: { source: string }) {
  const html = useMemo(() => DOMPurify.sanitize(marked.parse(source, { async: false, gfm: true })), [source]);
  return <div className="markdown" dangerouslySetInnerHTML={{ __html: html }} />;
}
