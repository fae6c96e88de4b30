import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useState } from "react";
import { afterEach, describe, expect, it } from "vitest";
import { buildPayload, fieldsFromSchema, initialValues, type FormErrors } from "../schema/form";
import { SchemaForm } from "./SchemaForm";

const schema = {
  type: "object",
  required: ["ms"],
  properties: {
    ms: { type: "integer", minimum: 0, maximum: 3600000, default: 2000, description: "milliseconds to sleep" },
    fail: { type: "boolean", default: false, description: "fail after sleeping" },
    mode: { enum: ["fast", "slow"] },
  },
};

function Harness({ onPayload, errors = {} }: { onPayload: (p: unknown) => void; errors?: FormErrors }) {
  const fields = fieldsFromSchema(schema)!;
  const [values, setValues] = useState(() => initialValues(fields));
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        onPayload(buildPayload(fields, values).payload);
      }}
    >
      <SchemaForm fields={fields} values={values} errors={errors} onChange={(k, v) => setValues((o) => ({ ...o, [k]: v }))} />
      <button type="submit">go</button>
    </form>
  );
}

describe("SchemaForm", () => {
  afterEach(cleanup);

  it("renders labelled inputs with their help and defaults", () => {
    render(<Harness onPayload={() => {}} />);
    const ms = screen.getByLabelText(/^Ms/) as HTMLInputElement;
    expect(ms.type).toBe("number");
    expect(ms.value).toBe("2000");
    expect(ms.getAttribute("aria-required")).toBe("true");
    expect(ms.getAttribute("aria-describedby")).toBeTruthy();
    expect(document.getElementById(ms.getAttribute("aria-describedby")!)?.textContent).toBe("milliseconds to sleep (0–3600000)");
    expect((screen.getByLabelText("Fail") as HTMLInputElement).checked).toBe(false);
    const mode = screen.getByLabelText("Mode") as HTMLSelectElement;
    expect([...mode.options].map((o) => o.text)).toEqual(["(not set)", "fast", "slow"]);
  });

  it("submits what was typed as a typed payload", () => {
    let got: unknown;
    render(<Harness onPayload={(p) => (got = p)} />);
    fireEvent.change(screen.getByLabelText(/^Ms/), { target: { value: "1500" } });
    fireEvent.click(screen.getByLabelText("Fail"));
    fireEvent.change(screen.getByLabelText("Mode"), { target: { value: '"slow"' } });
    fireEvent.click(screen.getByText("go"));
    expect(got).toEqual({ ms: 1500, fail: true, mode: "slow" });
  });

  it("ties an error to its input for screen readers", () => {
    render(<Harness onPayload={() => {}} errors={{ ms: "must be at most 3600000" }} />);
    const ms = screen.getByLabelText(/^Ms/);
    expect(ms.getAttribute("aria-invalid")).toBe("true");
    const ids = ms.getAttribute("aria-describedby")!.split(" ");
    expect(ids.map((id) => document.getElementById(id)?.textContent)).toContain("Ms must be at most 3600000");
  });
});
