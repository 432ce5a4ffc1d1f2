/** A text input's value that is pushed to `commit` only after the user pauses typing, and follows outside changes. */
import { useEffect, useRef, useState } from "react";

export function useDebouncedInput(value: string, commit: (value: string) => void, delayMs = 300) {
  const [draft, setDraft] = useState(value);
  const committed = useRef(value);
  const latestCommit = useRef(commit);
  latestCommit.current = commit;

  useEffect(() => {
    // Back/forward navigation or a cleared filter changes the URL: show it.
    if (value !== committed.current) {
      committed.current = value;
      setDraft(value);
    }
  }, [value]);

  useEffect(() => {
    if (draft === committed.current) return;
    const timer = setTimeout(() => {
      committed.current = draft;
      latestCommit.current(draft);
    }, delayMs);
    return () => clearTimeout(timer);
  }, [draft, delayMs]);

  return [draft, setDraft] as const;
}
