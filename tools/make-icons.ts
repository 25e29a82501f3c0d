/**
 * Writes the PWA icons (public/icons/*.png) from the same drawing as public/favicon.svg: a purple rounded square,
 * white mountains and a yellow sun. Chromium's installability check wants PNG icons (≥ 144 px, purpose "any"),
 * so we rasterise here with no image library: shapes are sampled 4×4 per pixel (anti-aliasing) and encoded as
 * RGBA PNG with node:zlib. Run: `npx tsx tools/make-icons.ts` (the PNGs are committed; rerun after a design change).
 */
import { deflateSync } from 'node:zlib';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Rgba = [number, number, number, number];
type Point = [number, number];

const PURPLE: Rgba = [0x4b, 0x3f, 0xd1, 255];
const WHITE: Rgba = [255, 255, 255, 235]; // the SVG's opacity .92
const SUN: Rgba = [0xff, 0xd2, 0x4a, 255];
const MOUNTAINS: Point[] = [[14, 46], [26, 18], [38, 40], [44, 30], [52, 46]];

/** A shape in the favicon's 64×64 coordinate system. */
type Shape = { inside: (x: number, y: number) => boolean; color: Rgba };

function insidePolygon(poly: Point[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if ((yi > y) !== (yj > y) && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function insideRoundedRect(x: number, y: number, size: number, radius: number): boolean {
  const cx = Math.min(Math.max(x, radius), size - radius);
  const cy = Math.min(Math.max(y, radius), size - radius);
  return x >= 0 && y >= 0 && x <= size && y <= size && (x - cx) ** 2 + (y - cy) ** 2 <= radius ** 2;
}

/** `maskable`: full-bleed background and the motif shrunk into the central safe circle (radius 40% of the icon). */
function shapes(maskable: boolean): Shape[] {
  const k = maskable ? 0.72 : 1;
  const toMotif = (x: number, y: number): Point => [(x - 32) / k + 32, (y - 32) / k + 32];
  return [
    { inside: (x, y) => (maskable ? true : insideRoundedRect(x, y, 64, 14)), color: PURPLE },
    { inside: (x, y) => insidePolygon(MOUNTAINS, ...toMotif(x, y)), color: WHITE },
    { inside: (x, y) => { const [u, v] = toMotif(x, y); return (u - 46) ** 2 + (v - 18) ** 2 <= 36; }, color: SUN },
  ];
}

/** Straight-alpha RGBA pixels, each the average of 4×4 samples composited "over" back to front. */
function rasterise(size: number, maskable: boolean): Uint8Array {
  const layers = shapes(maskable);
  const out = new Uint8Array(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0, g = 0, b = 0, a = 0; // premultiplied sums
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const x = ((px + (sx + 0.5) / n) / size) * 64;
          const y = ((py + (sy + 0.5) / n) / size) * 64;
          let cr = 0, cg = 0, cb = 0, ca = 0;
          for (const s of layers) {
            if (!s.inside(x, y)) continue;
            const al = s.color[3] / 255;
            cr = s.color[0] * al + cr * (1 - al);
            cg = s.color[1] * al + cg * (1 - al);
            cb = s.color[2] * al + cb * (1 - al);
            ca = al + ca * (1 - al);
          }
          r += cr; g += cg; b += cb; a += ca;
        }
      }
      const i = (py * size + px) * 4;
      const alpha = a / (n * n);
      out[i] = alpha ? Math.round(r / a) : 0;
      out[i + 1] = alpha ? Math.round(g / a) : 0;
      out[i + 2] = alpha ? Math.round(b / a) : 0;
      out[i + 3] = Math.round(alpha * 255);
    }
  }
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** PNG: signature, IHDR (8-bit RGBA), one IDAT of filter-0 scanlines, IEND. */
export function encodePng(rgba: Uint8Array, width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const raw = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) raw.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), y * (width * 4 + 1) + 1);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

export const ICONS = [
  { file: 'icon-192.png', size: 192, maskable: false },
  { file: 'icon-512.png', size: 512, maskable: false },
  { file: 'icon-maskable-512.png', size: 512, maskable: true },
] as const;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const dir = fileURLToPath(new URL('../public/icons/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  for (const icon of ICONS) {
    writeFileSync(dir + icon.file, encodePng(rasterise(icon.size, icon.maskable), icon.size, icon.size));
    console.log(`wrote public/icons/${icon.file}`);
  }
}
