import { useEffect, useRef } from 'react';
import type { RgbaImage } from '../../worker/studio-protocol';

/** Draws an RGBA image on a canvas, scaled up without smoothing (tiny models make 64×64 pictures). */
export function RgbaCanvas({ image, label, size = 256, testId }: { image: RgbaImage | null | undefined; label: string; size?: number; testId?: string }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas || !image) return;
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(image.data), image.width, image.height), 0, 0);
  }, [image]);
  return (
    <figure className="image-card">
      {image ? (
        <canvas ref={ref} role="img" aria-label={label} data-testid={testId} data-filled="true"
          style={{ width: size, height: size * (image.height / image.width), imageRendering: 'pixelated' }} />
      ) : (
        <div className="image-empty" style={{ width: size, height: size }} data-testid={testId} data-filled="false">—</div>
      )}
      <figcaption>{label}</figcaption>
    </figure>
  );
}
