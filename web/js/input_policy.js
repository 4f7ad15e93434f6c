// Which uploads are analysed: web/input_policy.json, the same data `python -m predict` reads
// (predict/input_policy.py), checked in the same order: size, format by its first bytes, dimensions
// from the header. Nothing is decoded until the header passes, so a small file claiming a huge
// image never allocates it. Truncated data is caught by the decoder (createImageBitmap rejects).

const POLICY_URL = new URL('../input_policy.json', import.meta.url);
const SUPPORTED_VERSION = 1;
let policyPromise = null;

export function loadPolicy() {
  policyPromise ??= fetch(POLICY_URL).then(async (r) => {
    if (!r.ok) throw new Error(`input policy: HTTP ${r.status}`);
    const p = await r.json();
    if (p.version !== SUPPORTED_VERSION) throw new Error(`input policy version ${p.version}; this page reads ${SUPPORTED_VERSION}`);
    return p;
  }).catch((err) => {
    policyPromise = null; // try again on the next upload
    throw err;
  });
  return policyPromise;
}

/** A refused upload: `reason` is one of the policy's reason names (Python reports the same). */
export class InputRejected extends Error {
  constructor(reason, message) {
    super(message);
    this.reason = reason;
  }
}

const hexBytes = (hex) => Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));

function identify(head, policy) {
  const matches = (sig) => sig.every(({ offset, hex }) => {
    const want = hexBytes(hex);
    return head.length >= offset + want.length && want.every((b, i) => head[offset + i] === b);
  });
  return policy.formats.find((f) => f.signatures.some(matches)) || null;
}

function acceptedNames(policy) {
  const names = policy.formats.filter((f) => f.accepted).map((f) => f.name);
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1)}`;
}

// ---------- dimensions from the header ----------

async function bytes(file, start, length) {
  return new Uint8Array(await file.slice(start, start + length).arrayBuffer());
}

const be16 = (b, i) => (b[i] << 8) | b[i + 1];
const le16 = (b, i) => b[i] | (b[i + 1] << 8);
const le24 = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16);
const be32 = (b, i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
const le32s = (b, i) => b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
const ascii = (b, i, n) => String.fromCharCode(...b.subarray(i, i + n));

async function jpegSize(file) {
  // Walk the marker segments up to the first frame header (SOFn); EXIF blocks are skipped, not read.
  let pos = 2;
  for (let guard = 0; guard < 10000; guard += 1) {
    const m = await bytes(file, pos, 2);
    if (m.length < 2 || m[0] !== 0xff) return null;
    const marker = m[1];
    if (marker === 0xff) { pos += 1; continue; } // fill byte
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { pos += 2; continue; } // no length
    if (marker === 0xd9 || marker === 0xda) return null; // image end or scan data before any frame header
    const seg = await bytes(file, pos + 2, 7);
    if (seg.length < 2) return null;
    const isSof = marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker);
    if (isSof) return seg.length < 7 ? null : { width: be16(seg, 5), height: be16(seg, 3) };
    pos += 2 + be16(seg, 0);
  }
  return null;
}

async function headerSize(file, format) {
  const b = await bytes(file, 0, 32);
  switch (format) {
    case 'JPEG': return jpegSize(file);
    case 'PNG': return ascii(b, 12, 4) === 'IHDR' && b.length >= 24 ? { width: be32(b, 16), height: be32(b, 20) } : null;
    case 'BMP': {
      if (b.length < 26) return null;
      if (le32s(b, 14) === 12) return { width: le16(b, 18), height: le16(b, 20) }; // OS/2 header
      return { width: Math.abs(le32s(b, 18)), height: Math.abs(le32s(b, 22)) };
    }
    case 'WebP': {
      const kind = ascii(b, 12, 4);
      if (kind === 'VP8 ' && b.length >= 30) return { width: le16(b, 26) & 0x3fff, height: le16(b, 28) & 0x3fff };
      if (kind === 'VP8L' && b.length >= 25) {
        const bits = b[21] | (b[22] << 8) | (b[23] << 16) | (b[24] << 24);
        return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
      }
      if (kind === 'VP8X' && b.length >= 30) return { width: le24(b, 24) + 1, height: le24(b, 27) + 1 };
      return null;
    }
    default: return null;
  }
}

/**
 * Check an uploaded File against the policy before decoding it. Resolves to {format, width, height};
 * rejects with InputRejected (reason + one-line message) when the policy refuses the file.
 */
export async function checkUpload(file) {
  const policy = await loadPolicy();
  const name = `"${file.name}"`;
  if (file.size === 0) throw new InputRejected('empty', `${name} is empty (0 bytes).`);
  if (file.size > policy.max_file_bytes) {
    throw new InputRejected('file_size', `${name} is ${(file.size / 1048576).toFixed(0)} MB; photos up to ` +
      `${(policy.max_file_bytes / 1048576).toFixed(0)} MB are accepted.`);
  }
  const format = identify(await bytes(file, 0, 64), policy);
  if (!format) {
    const choose = `Choose a ${acceptedNames(policy)} photo.`;
    throw new InputRejected('format', file.type && !file.type.startsWith('image/')
      ? `${name} is not an image (${file.type}). ${choose}`
      : `${name} could not be read as an image. Its content is not ${acceptedNames(policy)}, whatever its name says.`);
  }
  if (!format.accepted) throw new InputRejected('format', `${name} is a ${format.name} image: ${format.why}.`);
  const size = await headerSize(file, format.name);
  if (!size) throw new InputRejected('corrupt', `${name} has a damaged ${format.name} header.`);
  const { width, height } = size;
  if (width * height > policy.max_megapixels * 1e6) {
    throw new InputRejected('dimensions', `${name} is ${width}x${height} (${(width * height / 1e6).toFixed(0)} megapixels); ` +
      `the limit is ${policy.max_megapixels} megapixels.`);
  }
  return { format: format.name, width, height };
}
