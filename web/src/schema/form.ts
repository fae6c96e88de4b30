// From a task type's JSON Schema to form fields, and from what a person
// typed back to a payload. The subset handled is what payload schemas use:
// objects of strings, numbers, integers, booleans, enums, lists of those,
// nested objects, and binary strings (base64, e.g. images). Whatever else a
// schema says gets a JSON editor for that field, so every type can be
// submitted.

import type { JSONSchema } from "../api/types";

export type FieldKind =
  | "integer"
  | "number"
  | "text"
  | "longtext"
  | "datetime"
  | "boolean"
  | "enum"
  | "binary"
  | "list"
  | "object"
  | "json";

export interface Field {
  /** dotted path below the payload, e.g. "size.width" */
  key: string;
  name: string;
  label: string;
  description?: string;
  kind: FieldKind;
  required: boolean;
  schema: JSONSchema;
  /** for kind "object" */
  children?: Field[];
  /** for kind "enum": the allowed values */
  options?: unknown[];
  /** for kind "text": the HTML input type its format calls for */
  inputType?: "url" | "email" | "date";
  /** for kind "list": the kind of each item */
  itemKind?: "integer" | "number" | "text" | "boolean";
}

/** A binary field's value: the file a person picked, as base64. */
export interface BinaryValue {
  fileName: string;
  mediaType: string;
  base64: string;
}

export type FieldValue = string | boolean | BinaryValue | null;
export type FormValues = Record<string, FieldValue>;
export type FormErrors = Record<string, string>;

const LONG_TEXT_NAMES = new Set(["text", "body", "content", "document", "message", "markdown", "html"]);

/** String formats that have a matching HTML input type. */
const INPUT_TYPES: Record<string, "url" | "email" | "date"> = { uri: "url", url: "url", email: "email", date: "date" };

function mainType(s: JSONSchema): string | undefined {
  if (Array.isArray(s.type)) return s.type.find((t) => t !== "null");
  if (s.type) return s.type;
  if (s.properties) return "object";
  return undefined;
}

function humanize(name: string): string {
  const words = name.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/[_\-.]+/g, " ").trim();
  return words ? words[0].toUpperCase() + words.slice(1) : name;
}

function isBinary(s: JSONSchema): boolean {
  return (
    s.contentEncoding === "base64" ||
    s.format === "byte" ||
    s.format === "binary" ||
    (typeof s.contentMediaType === "string" && !s.contentMediaType.startsWith("text/") && s.contentMediaType !== "application/json")
  );
}

function kindOf(name: string, s: JSONSchema): Pick<Field, "kind" | "options" | "itemKind" | "inputType"> {
  if (Array.isArray(s.enum) && s.enum.length > 0) return { kind: "enum", options: s.enum };
  const t = mainType(s);
  switch (t) {
    case "integer":
      return { kind: "integer" };
    case "number":
      return { kind: "number" };
    case "boolean":
      return { kind: "boolean" };
    case "string":
      if (isBinary(s)) return { kind: "binary" };
      if (s.format === "date-time") return { kind: "datetime" };
      if (s.format && INPUT_TYPES[s.format]) return { kind: "text", inputType: INPUT_TYPES[s.format] };
      // Long free text gets a text area: by name, or by a limit far past a line.
      if (s.format === "textarea" || (!s.format && (LONG_TEXT_NAMES.has(name.toLowerCase()) || (s.maxLength ?? 0) > 4096))) return { kind: "longtext" };
      return { kind: "text" };
    case "array": {
      const it = s.items ? mainType(s.items) : undefined;
      if (s.items && !s.items.enum && (it === "integer" || it === "number" || it === "boolean" || (it === "string" && !isBinary(s.items))))
        return { kind: "list", itemKind: it === "string" ? "text" : (it as "integer" | "number" | "boolean") };
      return { kind: "json" };
    }
    case "object":
      return s.properties && Object.keys(s.properties).length > 0 ? { kind: "object" } : { kind: "json" };
  }
  return { kind: "json" };
}

function fieldsOf(s: JSONSchema, prefix: string, depth: number): Field[] {
  const required = new Set(s.required ?? []);
  return Object.entries(s.properties ?? {}).map(([name, prop]) => {
    const key = prefix ? `${prefix}.${name}` : name;
    const k = kindOf(name, prop ?? {});
    const f: Field = {
      key,
      name,
      label: prop?.title || humanize(name),
      description: prop?.description,
      required: required.has(name),
      schema: prop ?? {},
      ...k,
    };
    if (f.kind === "object") {
      if (depth >= 4) f.kind = "json";
      else f.children = fieldsOf(prop, key, depth + 1);
    }
    return f;
  });
}

/**
 * fieldsFromSchema returns the form fields of a payload schema, or null when
 * the schema does not describe an object with named properties: then the
 * whole payload is edited as JSON.
 */
export function fieldsFromSchema(schema: JSONSchema | undefined | null): Field[] | null {
  if (!schema || typeof schema !== "object") return null;
  if (mainType(schema) !== "object" || !schema.properties || Object.keys(schema.properties).length === 0) return null;
  return fieldsOf(schema, "", 0);
}

/** walk visits every leaf field (objects are containers). */
export function leafFields(fields: Field[]): Field[] {
  const out: Field[] = [];
  for (const f of fields) {
    if (f.kind === "object" && f.children) out.push(...leafFields(f.children));
    else out.push(f);
  }
  return out;
}

function defaultText(f: Field): FieldValue {
  const d = f.schema.default;
  switch (f.kind) {
    case "boolean":
      return typeof d === "boolean" ? d : false;
    case "enum":
      return d !== undefined ? JSON.stringify(d) : f.required ? JSON.stringify(f.options?.[0]) : "";
    case "binary":
      return null;
    case "list":
      return Array.isArray(d) ? d.map(String).join("\n") : "";
    case "json":
      return d !== undefined ? JSON.stringify(d, null, 2) : "";
    case "datetime":
      return typeof d === "string" ? d : "";
    default:
      return d === undefined || d === null ? "" : String(d);
  }
}

/** initialValues gives every leaf field its schema default (or empty). */
export function initialValues(fields: Field[]): FormValues {
  const v: FormValues = {};
  for (const f of leafFields(fields)) v[f.key] = defaultText(f);
  return v;
}

function checkNumber(f: Field, raw: string): { value?: number; error?: string } {
  const text = raw.trim();
  const n = Number(text);
  if (text === "" || !Number.isFinite(n)) return { error: f.kind === "integer" ? "must be a whole number" : "must be a number" };
  if (f.kind === "integer" && !Number.isInteger(n)) return { error: "must be a whole number" };
  const s = f.schema;
  if (s.minimum !== undefined && n < s.minimum) return { error: `must be at least ${s.minimum}` };
  if (s.maximum !== undefined && n > s.maximum) return { error: `must be at most ${s.maximum}` };
  if (s.exclusiveMinimum !== undefined && n <= s.exclusiveMinimum) return { error: `must be more than ${s.exclusiveMinimum}` };
  if (s.exclusiveMaximum !== undefined && n >= s.exclusiveMaximum) return { error: `must be less than ${s.exclusiveMaximum}` };
  if (s.multipleOf !== undefined && s.multipleOf > 0 && Math.abs(n / s.multipleOf - Math.round(n / s.multipleOf)) > 1e-9)
    return { error: `must be a multiple of ${s.multipleOf}` };
  return { value: n };
}

function checkString(f: Field, text: string): string | undefined {
  const s = f.schema;
  if (s.minLength !== undefined && text.length < s.minLength) return `must be at least ${s.minLength} characters`;
  if (s.maxLength !== undefined && text.length > s.maxLength) return `must be at most ${s.maxLength} characters`;
  if (s.pattern) {
    try {
      if (!new RegExp(s.pattern, "u").test(text)) return `must match ${s.pattern}`;
    } catch {
      /* a pattern JavaScript cannot read is left to the server */
    }
  }
  return undefined;
}

function leafValue(f: Field, raw: FieldValue): { set: boolean; value?: unknown; error?: string } {
  const empty = raw === null || raw === "" || (typeof raw === "string" && raw.trim() === "" && f.kind !== "text" && f.kind !== "longtext");
  if (f.kind === "boolean") return { set: true, value: raw === true };
  if (empty) return f.required ? { set: false, error: "is required" } : { set: false };
  switch (f.kind) {
    case "integer":
    case "number": {
      const r = checkNumber(f, String(raw));
      return r.error ? { set: false, error: r.error } : { set: true, value: r.value };
    }
    case "enum": {
      try {
        const v = JSON.parse(String(raw));
        if (!(f.options ?? []).some((o) => JSON.stringify(o) === JSON.stringify(v))) return { set: false, error: "pick one of the choices" };
        return { set: true, value: v };
      } catch {
        return { set: false, error: "pick one of the choices" };
      }
    }
    case "binary": {
      const b = raw as BinaryValue;
      return { set: true, value: b.base64 };
    }
    case "datetime": {
      const d = new Date(String(raw));
      if (Number.isNaN(d.getTime())) return { set: false, error: "must be a date and time" };
      return { set: true, value: d.toISOString() };
    }
    case "list": {
      const items = String(raw)
        .split("\n")
        .map((x) => x.trim())
        .filter((x) => x !== "");
      const out: unknown[] = [];
      for (const [i, item] of items.entries()) {
        if (f.itemKind === "integer" || f.itemKind === "number") {
          const n = Number(item);
          if (!Number.isFinite(n) || (f.itemKind === "integer" && !Number.isInteger(n)))
            return { set: false, error: `line ${i + 1}: "${item}" is not a ${f.itemKind === "integer" ? "whole number" : "number"}` };
          out.push(n);
        } else if (f.itemKind === "boolean") {
          if (item !== "true" && item !== "false") return { set: false, error: `line ${i + 1}: write true or false` };
          out.push(item === "true");
        } else out.push(item);
      }
      const s = f.schema;
      if (typeof s.minItems === "number" && out.length < s.minItems) return { set: false, error: `needs at least ${s.minItems} items` };
      if (typeof s.maxItems === "number" && out.length > s.maxItems) return { set: false, error: `takes at most ${s.maxItems} items` };
      return { set: true, value: out };
    }
    case "json": {
      try {
        return { set: true, value: JSON.parse(String(raw)) };
      } catch (e) {
        return { set: false, error: "is not valid JSON: " + (e as Error).message };
      }
    }
    default: {
      const text = String(raw);
      const err = checkString(f, text);
      return err ? { set: false, error: err } : { set: true, value: text };
    }
  }
}

function build(fields: Field[], values: FormValues, errors: FormErrors): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.kind === "object" && f.children) {
      const child = build(f.children, values, errors);
      if (Object.keys(child).length > 0 || f.required) out[f.name] = child;
      continue;
    }
    const r = leafValue(f, values[f.key] ?? null);
    if (r.error) errors[f.key] = r.error;
    else if (r.set) out[f.name] = r.value;
  }
  return out;
}

/** buildPayload turns form values into the payload object, with an error per field that does not pass the schema. */
export function buildPayload(fields: Field[], values: FormValues): { payload: Record<string, unknown>; errors: FormErrors } {
  const errors: FormErrors = {};
  const payload = build(fields, values, errors);
  return { payload, errors };
}

/** fieldKeyOfServerError maps the API's error field ("payload.size.width") to a form key ("size.width"). */
export function fieldKeyOfServerError(field: string | undefined): string | undefined {
  if (!field || !field.startsWith("payload.")) return undefined;
  return field.slice("payload.".length).replace(/\[(\d+)\]/g, ".$1").split(".").filter((p) => !/^\d+$/.test(p)).join(".");
}

/** readFileAsBinary reads a picked file into a BinaryValue. */
export async function readFileAsBinary(file: Blob & { name?: string }): Promise<BinaryValue> {
  const buf = new Uint8Array(await file.arrayBuffer());
  let bin = "";
  const chunk = 0x8000;
  for (let i = 0; i < buf.length; i += chunk) bin += String.fromCharCode(...buf.subarray(i, i + chunk));
  return { fileName: file.name ?? "file", mediaType: file.type || "application/octet-stream", base64: btoa(bin) };
}
