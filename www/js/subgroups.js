// Gives the engine's GPU device the `subgroups` feature where the adapter has it. wgpu 30's
// WebGPU backend has no name for that feature, so it can never ask for it; this wraps the
// browser's requestDevice, which wgpu calls, to add it, and tells the engine by setting
// `snapfreezeSubgroups` (read in src/gpu/context.rs). With subgroups of four lanes the
// engine may then time the register-tiled convolution kernels' subgroup build (rows loaded
// once per subgroup and shared by broadcast; the same bits). `?subgroups=off` leaves the
// request alone, to compare.

const WRAPPED = Symbol("snapfreeze subgroups");

export function requestSubgroups() {
  const proto = globalThis.GPUAdapter?.prototype;
  const off = new URLSearchParams(globalThis.location?.search ?? "").get("subgroups") === "off";
  if (!proto?.requestDevice || proto.requestDevice[WRAPPED] || off) return;
  const original = proto.requestDevice;
  const wrapped = async function requestDevice(descriptor = {}) {
    if (!this.features?.has("subgroups")) {
      globalThis.snapfreezeSubgroups = false;
      return original.call(this, descriptor);
    }
    const required = [...(descriptor.requiredFeatures ?? [])];
    if (!required.includes("subgroups")) required.push("subgroups");
    const device = await original.call(this, { ...descriptor, requiredFeatures: required });
    globalThis.snapfreezeSubgroups = true;
    return device;
  };
  wrapped[WRAPPED] = true;
  proto.requestDevice = wrapped;
}

requestSubgroups();
