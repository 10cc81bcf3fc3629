// Fetches and gunzips dataset files off the main thread (DecompressionStream runs on the
// thread that reads it): {id, name, url} or {id, name, bytes} in, {id, bytes} (transferred)
// or {id, error} out, the error naming the file. Bytes that are not gzip come back as they are.

async function inflate({ name, url, bytes }) {
  let input = bytes;
  if (url) {
    const response = await fetch(url);
    if (!response.ok) {
      throw new Error(`${name} answered ${response.status}: the site was built without it (run 'make setup', then rebuild)`);
    }
    input = new Uint8Array(await response.arrayBuffer());
  }
  if (input.length < 2 || input[0] !== 0x1f || input[1] !== 0x8b) return input;
  try {
    const stream = new Blob([input]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (e) {
    throw new Error(`${name} looks gzip-compressed but does not decompress (${e.message ?? e}); is the download complete?`);
  }
}

self.addEventListener("message", async ({ data }) => {
  try {
    const bytes = await inflate(data);
    self.postMessage({ id: data.id, bytes }, [bytes.buffer]);
  } catch (e) {
    self.postMessage({ id: data.id, error: e.message ?? String(e) });
  }
});
