/**
 * The app's base URL as the page sees it (document.baseURI), sent with `init`. Relative model sources such as
 * "./models/tiny-sd/" resolve against it — not against the worker script's own URL, which lives in assets/.
 */
let base: string | null = null;

export function setAppBase(url: string | undefined): void {
  if (url) base = url;
}

export function appBase(): string {
  return base ?? self.location.href;
}
