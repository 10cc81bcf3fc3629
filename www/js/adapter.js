// Shows the adapter: what wgpu reports plus the browser's own adapter info (vendor,
// architecture), which wgpu does not pass through on the web.

import { bytes } from "./format.js";

const LIMITS = [
  ["max_buffer_size", "max buffer size", bytes],
  ["max_storage_buffer_binding_size", "max storage binding", bytes],
  ["max_storage_buffers_per_shader_stage", "storage buffers per stage", String],
  ["max_compute_workgroup_storage_size", "workgroup memory", bytes],
  ["max_compute_invocations_per_workgroup", "invocations per workgroup", String],
  ["max_compute_workgroup_size_x", "workgroup size x", String],
  ["max_compute_workgroups_per_dimension", "workgroups per dimension", String],
];

/** The browser's own adapter info (vendor, architecture, device, description), or {}. */
export async function browserAdapterInfo() {
  try {
    const adapter = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
    const info = adapter?.info ?? (await adapter?.requestAdapterInfo?.());
    return info ?? {};
  } catch {
    return {};
  }
}

/** This browser's adapter as one string, like `nvidia/hopper//`: what kept measurements are
 * filed under (wgpu passes no vendor, device or driver through on the web). */
export async function adapterKey() {
  const info = await browserAdapterInfo();
  return [info.vendor, info.architecture, info.device, info.description].map((p) => p ?? "").join("/");
}

/** The subgroup sizes, and whether the register kernels may share rows within one. */
function subgroups(report) {
  const [low, high] = report.subgroup_sizes ?? [0, 0];
  if (!high) return "not reported";
  const lanes = low === high ? `${low} lanes` : `${low}-${high} lanes`;
  return report.subgroup_rows ? `${lanes}; the register kernels' subgroup build is available` : lanes;
}

/** Fills the adapter panel; returns the merged description for reports. */
export async function showAdapter(session, container) {
  const report = session.adapter();
  const info = await browserAdapterInfo();
  const rows = [
    ["backend", report.backend],
    ["vendor", info.vendor || "not reported"],
    ["architecture", info.architecture || "not reported"],
    ["device", info.device || info.description || report.name || "not reported"],
    ["type", report.device_type === "Cpu" ? "software (fallback) adapter" : report.device_type],
    ["subgroups", subgroups(report)],
    ...LIMITS.map(([key, label, fmt]) => [label, fmt(report[key])]),
  ];
  container.replaceChildren(...rows.flatMap(([k, v]) => {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v;
    dd.dataset.key = k;
    return [dt, dd];
  }));
  return { ...report, vendor: info.vendor, architecture: info.architecture };
}
