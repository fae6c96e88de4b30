import { describe, expect, it } from "vitest";
import type { JSONSchema } from "../api/types";
import { buildPayload, fieldKeyOfServerError, fieldsFromSchema, initialValues, leafFields } from "./form";

const fibonacci: JSONSchema = {
  type: "object",
  required: ["n"],
  additionalProperties: false,
  properties: { n: { type: "integer", minimum: 0, maximum: 100000, default: 35, description: "index of the Fibonacci number" } },
};

const sleep: JSONSchema = {
  type: "object",
  required: ["ms"],
  properties: { ms: { type: "integer", minimum: 0, default: 2000 }, fail: { type: "boolean", default: false } },
};

describe("fieldsFromSchema", () => {
  it("makes one integer field for fibonacci, with its default", () => {
    const fields = fieldsFromSchema(fibonacci)!;
    expect(fields).toHaveLength(1);
    expect(fields[0]).toMatchObject({ key: "n", label: "N", kind: "integer", required: true, description: "index of the Fibonacci number" });
    expect(initialValues(fields)).toEqual({ n: "35" });
  });

  it("returns null when the schema names no properties, so the payload is edited as JSON", () => {
    expect(fieldsFromSchema(undefined)).toBeNull();
    expect(fieldsFromSchema({ type: "object", description: "any JSON object" })).toBeNull();
    expect(fieldsFromSchema({ type: "array", items: { type: "string" } })).toBeNull();
  });

  it("picks a kind per property", () => {
    const fields = fieldsFromSchema({
      type: "object",
      properties: {
        name: { type: "string" },
        text: { type: "string" },
        url: { type: "string", format: "uri", maxLength: 8192 },
        path: { type: "string", maxLength: 1024 },
        notes: { type: "string", maxLength: 524288 },
        mode: { type: "string", enum: ["fit", "fill"] },
        ratio: { type: ["number", "null"] },
        tags: { type: "array", items: { type: "string" } },
        image: { type: "string", contentEncoding: "base64", contentMediaType: "image/png" },
        when: { type: "string", format: "date-time" },
        extra: { type: "object" },
        size: { type: "object", required: ["width"], properties: { width: { type: "integer" }, height: { type: "integer" } } },
        matrix: { type: "array", items: { type: "array" } },
      },
    })!;
    const kinds = Object.fromEntries(leafFields(fields).map((f) => [f.key, f.kind]));
    expect(kinds).toEqual({
      name: "text",
      text: "longtext",
      url: "text",
      path: "text",
      notes: "longtext",
      mode: "enum",
      ratio: "number",
      tags: "list",
      image: "binary",
      when: "datetime",
      extra: "json",
      "size.width": "integer",
      "size.height": "integer",
      matrix: "json",
    });
    expect(fields.find((f) => f.key === "size")?.kind).toBe("object");
    expect(fields.find((f) => f.key === "url")?.inputType).toBe("url");
  });
});

describe("buildPayload", () => {
  it("turns typed text into typed JSON", () => {
    const fields = fieldsFromSchema(sleep)!;
    const { payload, errors } = buildPayload(fields, { ms: "1500", fail: true });
    expect(errors).toEqual({});
    expect(payload).toEqual({ ms: 1500, fail: true });
  });

  it("reports required, range and type errors by field", () => {
    const fields = fieldsFromSchema(fibonacci)!;
    expect(buildPayload(fields, { n: "" }).errors).toEqual({ n: "is required" });
    expect(buildPayload(fields, { n: "-1" }).errors).toEqual({ n: "must be at least 0" });
    expect(buildPayload(fields, { n: "100001" }).errors).toEqual({ n: "must be at most 100000" });
    expect(buildPayload(fields, { n: "3.5" }).errors).toEqual({ n: "must be a whole number" });
    expect(buildPayload(fields, { n: "abc" }).errors).toEqual({ n: "must be a whole number" });
  });

  it("leaves out optional fields left empty, and builds nested objects", () => {
    const fields = fieldsFromSchema({
      type: "object",
      properties: {
        note: { type: "string" },
        size: { type: "object", properties: { width: { type: "integer" }, height: { type: "integer" } } },
        tags: { type: "array", items: { type: "integer" } },
      },
    })!;
    expect(buildPayload(fields, { note: "", "size.width": "", "size.height": "", tags: "" }).payload).toEqual({});
    const r = buildPayload(fields, { note: "hi", "size.width": "640", "size.height": "", tags: "1\n2\n\n3" });
    expect(r.errors).toEqual({});
    expect(r.payload).toEqual({ note: "hi", size: { width: 640 }, tags: [1, 2, 3] });
    expect(buildPayload(fields, { tags: "1\nx" }).errors.tags).toMatch(/line 2/);
  });

  it("checks enums, string rules and JSON fields", () => {
    const fields = fieldsFromSchema({
      type: "object",
      required: ["mode", "code"],
      properties: {
        mode: { enum: ["fit", "fill", 3] },
        code: { type: "string", pattern: "^[A-Z]{3}$", minLength: 3 },
        opts: { type: "object" },
      },
    })!;
    const init = initialValues(fields);
    expect(init.mode).toBe('"fit"'); // a required enum starts on its first choice
    const ok = buildPayload(fields, { mode: "3", code: "ABC", opts: '{"a":1}' });
    expect(ok).toEqual({ payload: { mode: 3, code: "ABC", opts: { a: 1 } }, errors: {} });
    const bad = buildPayload(fields, { mode: '"zoom"', code: "abc", opts: "{nope" });
    expect(Object.keys(bad.errors).sort()).toEqual(["code", "mode", "opts"]);
    expect(bad.errors.code).toBe("must match ^[A-Z]{3}$");
    expect(bad.errors.opts).toMatch(/^is not valid JSON/);
  });

  it("sends a picked file as its base64", () => {
    const fields = fieldsFromSchema({ type: "object", required: ["image"], properties: { image: { type: "string", contentEncoding: "base64" } } })!;
    expect(buildPayload(fields, { image: null }).errors).toEqual({ image: "is required" });
    expect(buildPayload(fields, { image: { fileName: "a.png", mediaType: "image/png", base64: "iVBORw0KGgo=" } }).payload).toEqual({ image: "iVBORw0KGgo=" });
  });
});

describe("fieldKeyOfServerError", () => {
  it("maps the API's payload paths to form keys", () => {
    expect(fieldKeyOfServerError("payload.n")).toBe("n");
    expect(fieldKeyOfServerError("payload.size.width")).toBe("size.width");
    expect(fieldKeyOfServerError("payload.tags[2]")).toBe("tags");
    expect(fieldKeyOfServerError("queue")).toBeUndefined();
    expect(fieldKeyOfServerError(undefined)).toBeUndefined();
  });
});
