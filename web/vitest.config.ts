import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";

// Unit and component tests: jsdom, no server, no browser.
export default defineConfig({
  plugins: [react()],
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
