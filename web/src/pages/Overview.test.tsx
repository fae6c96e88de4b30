import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { LinkChip } from "./Overview";

afterEach(cleanup);

describe("LinkChip", () => {
  it("shows a link's name and state, and says when a required one is not up", () => {
    render(<LinkChip link={{ name: "amqp", state: "down", detail: "connection refused", required: true }} />);
    const chip = screen.getByTestId("link-chip");
    expect(chip.textContent).toBe("amqp: down (required)");
    expect(chip.getAttribute("data-state")).toBe("down");
    expect(chip.getAttribute("title")).toBe("connection refused");
  });
  it("says nothing more of a link that is up", () => {
    render(<LinkChip link={{ name: "amqp", state: "up", required: true }} />);
    expect(screen.getByTestId("link-chip").textContent).toBe("amqp: up");
  });
});
