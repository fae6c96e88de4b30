// The payload part of the submit form, drawn from fieldsFromSchema. Every
// input has a label, its description as help text, and its error tied to
// it with aria-describedby.

import { useState } from "react";
import { readFileAsBinary, type BinaryValue, type Field, type FieldValue, type FormErrors, type FormValues } from "../schema/form";
import { formatBytes } from "../format";

interface Props {
  fields: Field[];
  values: FormValues;
  errors: FormErrors;
  onChange: (key: string, value: FieldValue) => void;
  idPrefix?: string;
}

export function SchemaForm({ fields, values, errors, onChange, idPrefix = "p" }: Props) {
  return (
    <div className="grid gap-4">
      {fields.map((f) => (
        <FieldInput key={f.key} field={f} values={values} errors={errors} onChange={onChange} idPrefix={idPrefix} />
      ))}
    </div>
  );
}

function FieldInput({ field: f, values, errors, onChange, idPrefix }: { field: Field } & Required<Omit<Props, "fields">>) {
  const id = `${idPrefix}-${f.key.replace(/[^A-Za-z0-9_-]/g, "_")}`;
  const err = errors[f.key];
  const describedBy = [f.description ? id + "-help" : "", err ? id + "-err" : ""].filter(Boolean).join(" ") || undefined;
  const value = values[f.key];

  if (f.kind === "object" && f.children) {
    return (
      <fieldset className="rounded-md border border-zinc-200 p-3 dark:border-zinc-800">
        <legend className="px-1 text-sm font-medium">
          {f.label}
          {f.required && <span className="text-red-600"> *</span>}
        </legend>
        {f.description && <p className="help mb-2">{f.description}</p>}
        <SchemaForm fields={f.children} values={values} errors={errors} onChange={onChange} idPrefix={idPrefix} />
      </fieldset>
    );
  }

  const common = {
    id,
    name: f.key,
    "aria-invalid": err ? true : undefined,
    "aria-describedby": describedBy,
    "aria-required": f.required || undefined,
  } as const;

  let input;
  switch (f.kind) {
    case "boolean":
      return (
        <div>
          <label htmlFor={id} className="flex items-center gap-2 text-sm font-medium">
            <input type="checkbox" {...common} checked={value === true} onChange={(e) => onChange(f.key, e.target.checked)} className="h-4 w-4 accent-indigo-600" />
            {f.label}
          </label>
          {f.description && (
            <p id={id + "-help"} className="help ml-6">
              {f.description}
            </p>
          )}
          {err && (
            <p id={id + "-err"} className="field-error">
              {f.label} {err}
            </p>
          )}
        </div>
      );
    case "integer":
    case "number":
      input = (
        <input
          type="number"
          inputMode={f.kind === "integer" ? "numeric" : "decimal"}
          step={f.kind === "integer" ? 1 : "any"}
          min={f.schema.minimum}
          max={f.schema.maximum}
          className="input"
          {...common}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(f.key, e.target.value)}
        />
      );
      break;
    case "enum":
      input = (
        <select className="input" {...common} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(f.key, e.target.value)}>
          {!f.required && <option value="">(not set)</option>}
          {(f.options ?? []).map((o) => (
            <option key={JSON.stringify(o)} value={JSON.stringify(o)}>
              {typeof o === "string" ? o : JSON.stringify(o)}
            </option>
          ))}
        </select>
      );
      break;
    case "longtext":
    case "list":
    case "json":
      input = (
        <textarea
          className={`input ${f.kind === "json" ? "font-mono text-xs" : ""}`}
          rows={f.kind === "longtext" ? 5 : 4}
          spellCheck={f.kind === "longtext"}
          placeholder={f.kind === "list" ? "one item per line" : f.kind === "json" ? "JSON" : undefined}
          {...common}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(f.key, e.target.value)}
        />
      );
      break;
    case "datetime":
      input = (
        <input type="datetime-local" className="input" {...common} value={typeof value === "string" ? value : ""} onChange={(e) => onChange(f.key, e.target.value)} />
      );
      break;
    case "binary":
      input = <BinaryInput common={common} accept={f.schema.contentMediaType} value={value as BinaryValue | null} onChange={(v) => onChange(f.key, v)} />;
      break;
    default:
      input = (
        <input
          type={f.inputType ?? "text"}
          className="input"
          maxLength={f.schema.maxLength}
          {...common}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(f.key, e.target.value)}
        />
      );
  }
  return (
    <div>
      <label htmlFor={id} className="label">
        {f.label}
        {f.required && (
          <span className="text-red-600" aria-hidden>
            {" "}
            *
          </span>
        )}
        {f.kind === "json" && <span className="ml-1 text-xs font-normal text-zinc-500">(JSON)</span>}
      </label>
      {input}
      {f.description && (
        <p id={id + "-help"} className="help">
          {f.description}
          {rangeHint(f)}
        </p>
      )}
      {!f.description && rangeHint(f) && (
        <p id={id + "-help"} className="help">
          {rangeHint(f).trim()}
        </p>
      )}
      {err && (
        <p id={id + "-err"} className="field-error">
          {f.label} {err}
        </p>
      )}
    </div>
  );
}

function rangeHint(f: Field): string {
  const s = f.schema;
  if ((f.kind === "integer" || f.kind === "number") && (s.minimum !== undefined || s.maximum !== undefined)) {
    if (s.minimum !== undefined && s.maximum !== undefined) return ` (${s.minimum}–${s.maximum})`;
    return s.minimum !== undefined ? ` (at least ${s.minimum})` : ` (at most ${s.maximum})`;
  }
  return "";
}

function BinaryInput({
  common,
  accept,
  value,
  onChange,
}: {
  common: Record<string, unknown>;
  accept?: string;
  value: BinaryValue | null;
  onChange: (v: BinaryValue | null) => void;
}) {
  const [err, setErr] = useState("");
  return (
    <div>
      <input
        type="file"
        accept={accept || undefined}
        className="block w-full text-sm file:mr-3 file:rounded-md file:border-0 file:bg-indigo-50 file:px-3 file:py-1.5 file:text-sm file:font-medium file:text-indigo-700 dark:file:bg-indigo-950 dark:file:text-indigo-300"
        {...common}
        onChange={async (e) => {
          const file = e.target.files?.[0];
          setErr("");
          if (!file) return onChange(null);
          try {
            onChange(await readFileAsBinary(file));
          } catch {
            setErr("could not read that file");
          }
        }}
      />
      {value && (
        <p className="help">
          {value.fileName}, {formatBytes(Math.floor((value.base64.length * 3) / 4))}, sent as base64
        </p>
      )}
      {err && <p className="field-error">{err}</p>}
    </div>
  );
}
