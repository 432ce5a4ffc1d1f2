/** Text buttons for react-jsonschema-form's array controls (its default theme expects an icon font we do not ship). */
import type { IconButtonProps } from "@rjsf/utils";

function textButton(label: string, danger = false) {
  return function TextButton({ onClick, disabled, className }: IconButtonProps) {
    return (
      <button
        type="button"
        className={`btn ${danger ? "text-red-700 dark:text-red-400" : ""} ${className ?? ""}`}
        onClick={onClick}
        disabled={disabled}
      >
        {label}
      </button>
    );
  };
}

export const buttonTemplates = {
  AddButton: textButton("Add"),
  RemoveButton: textButton("Remove", true),
  MoveUpButton: textButton("Move up"),
  MoveDownButton: textButton("Move down"),
  CopyButton: textButton("Copy"),
};
