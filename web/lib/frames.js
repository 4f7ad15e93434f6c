// Reading pixels from what a page holds (video, image, canvas, bitmap, ImageData), with scratch
// canvases the recognizer owns: a downscaled copy for the detector, and the few pixels around each
// face for the emotion model, so a video frame is never read whole.

/** @typedef {HTMLVideoElement | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | ImageBitmap | ImageData} PixelSource */

/**
 * The size of a source in its own pixels (a video's frames, an image's file, not the CSS box).
 * @param {PixelSource} source
 * @returns {{width: number, height: number}}
 */
export function sourceSize(source) {
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement) {
    return { width: source.videoWidth, height: source.videoHeight };
  }
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
    return { width: source.naturalWidth, height: source.naturalHeight };
  }
  return { width: source.width, height: source.height };
}

function makeCanvas(width, height) {
  const c = typeof document !== 'undefined' ? document.createElement('canvas') : new OffscreenCanvas(width, height);
  c.width = width;
  c.height = height;
  return c;
}

/** A 2d canvas that is resized on demand and read often (kept in CPU memory). */
class Scratch {
  constructor() {
    this.canvas = null;
    this.ctx = null;
  }

  fit(width, height) {
    if (!this.canvas) {
      this.canvas = makeCanvas(width, height);
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
    } else if (this.canvas.width !== width || this.canvas.height !== height) {
      Object.assign(this.canvas, { width, height });
    }
    return this.ctx;
  }
}

export class FrameReader {
  constructor() {
    this.small = new Scratch();
    this.region = new Scratch();
    this.whole = new Scratch();
  }

  /** Something drawImage accepts: ImageData is first put on a canvas. */
  drawable(source) {
    if (typeof ImageData !== 'undefined' && source instanceof ImageData) {
      this.whole.fit(source.width, source.height).putImageData(source, 0, 0);
      return this.whole.canvas;
    }
    return source;
  }

  /**
   * Pixels tf.browser.fromPixels reads at the source's own size (an <img> at its file's size,
   * whatever its CSS size).
   * @param {PixelSource} source
   */
  full(source) {
    if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement) {
      const { width, height } = sourceSize(source);
      const ctx = this.whole.fit(width, height);
      ctx.drawImage(source, 0, 0, width, height);
      return ctx.getImageData(0, 0, width, height);
    }
    return source;
  }

  /**
   * The frame scaled down by the browser so its longer side is at most `size` (the detector's input).
   * @returns {{pixels: ImageData, scale: number}} scale: frame pixels per pixel of the copy
   */
  downscaled(source, W, H, size) {
    const s = Math.min(1, size / Math.max(W, H));
    const w = Math.max(1, Math.round(W * s)), h = Math.max(1, Math.round(H * s));
    const ctx = this.small.fit(w, h);
    ctx.drawImage(this.drawable(source), 0, 0, w, h);
    return { pixels: ctx.getImageData(0, 0, w, h), scale: W / w };
  }

  /** The frame's pixels in `r` ({x, y, width, height}, integers), copied 1:1. */
  pixels(source, r) {
    if (typeof ImageData !== 'undefined' && source instanceof ImageData) {
      return this.readImageData(source, r);
    }
    const ctx = this.region.fit(r.width, r.height);
    ctx.drawImage(source, r.x, r.y, r.width, r.height, 0, 0, r.width, r.height);
    return ctx.getImageData(0, 0, r.width, r.height);
  }

  readImageData(source, r) {
    const out = new ImageData(r.width, r.height);
    for (let y = 0; y < r.height; y++) {
      const start = ((r.y + y) * source.width + r.x) * 4;
      out.data.set(source.data.subarray(start, start + r.width * 4), y * r.width * 4);
    }
    return out;
  }
}
