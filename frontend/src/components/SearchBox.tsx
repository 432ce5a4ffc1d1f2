/** A search field with a visually hidden label that reports its value once the user pauses typing. */
import { useDebouncedInput } from "../lib/useDebouncedInput";

export function SearchBox({
  id,
  label,
  placeholder,
  value,
  onCommit,
  className = "",
}: {
  id: string;
  label: string;
  placeholder: string;
  value: string;
  onCommit: (value: string) => void;
  className?: string;
}) {
  const [draft, setDraft] = useDebouncedInput(value, onCommit);
  return (
    <>
      <label htmlFor={id} className="sr-only">
        {label}
      </label>
      <input
        id={id}
        type="search"
        className={`input ${className}`}
        placeholder={placeholder}
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
      />
    </>
  );
}
