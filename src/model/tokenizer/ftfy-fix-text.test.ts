// Expected values were produced by Python 3.11 with ftfy 6.3.1 (`ftfy.fix_text`) and `html.unescape`.
import { describe, expect, it } from 'vitest';
import { badness, isBad } from './ftfy-badness';
import { ftfyFixText } from './ftfy-fix-text';
import { ftfyUnescapeHtml, pythonHtmlUnescape } from './html-unescape';

describe('ftfyFixText (ftfy.fix_text defaults)', () => {
  const cases: Array<[string, string]> = [
    ['Ãºnico', 'único'],
    ['cafÃ© au lait', 'café au lait'],
    ['ÃƒÂ©', 'é'], // two layers of mojibake
    ['This â€” should be an em dash', 'This — should be an em dash'],
    ['quÃ\xa0 quelque', 'quà quelque'],
    ['This text was never UTF-8 at all\x85', 'This text was never UTF-8 at all…'],
    ['HTML entities &lt;3', 'HTML entities <3'],
    ['<em>HTML entities &lt;3</em>', '<em>HTML entities &lt;3</em>'],
    ['a &amp;amp; b\n< c &amp; d\ne &amp; f', 'a & b\n< c &amp; d\ne &amp; f'],
    ['&EACUTE;t&Eacute;', 'ÉtÉ'],
    ['\x01\x1b[36;44mI&#x92;m blue, da ba dee da ba doo&#133;\x1b[0m', "I'm blue, da ba dee da ba doo…"],
    ['\ufeffParty like\r\nit&rsquo;s 1999!', "Party like\nit's 1999!"],
    ['not such a fan of Charlotte Brontë…”', 'not such a fan of Charlotte Brontë…"'],
    ['AHÅ™, the new sofa from IKEA®', 'AHÅ™, the new sofa from IKEA®'],
    ['ﬂubberiﬁc ＦＵＬＬ\u3000ｗｉｄｔｈ', 'flubberific FULL width'],
    ['a\u2028b\x85c', 'a\nb…c'],
    ['e\u0301', 'é'],
    ['😀 family 👩\u200d👩\u200d👧', '😀 family 👩\u200d👩\u200d👧'],
    ['a\x07b\x00c d', 'abc d'],
  ];
  for (const [input, expected] of cases) {
    it(JSON.stringify(input), () => expect(ftfyFixText(input)).toBe(expected));
  }

  it('leaves correct accented text alone', () => {
    for (const s of ['Café crème brûlée', 'naïve façade, São Paulo, Zürich', 'кошка и собака', '日本語', 'Łódź']) {
      expect(isBad(s)).toBe(false);
      expect(ftfyFixText(s)).toBe(s);
    }
    expect(badness('cafÃ© Ã©tÃ©')).toBeGreaterThan(0);
  });
});

describe('html unescaping', () => {
  it('pythonHtmlUnescape follows html.unescape', () => {
    const cases: Array<[string, string]> = [
      ['&notit;', '¬it;'], ['&amp', '&'], ['&#x80;', '€'], ['&#0;', '\ufffd'], ['&#xD800;', '\ufffd'],
      ['&#1;', ''], ['&#65;&#x42;', 'AB'], ['&AMP;', '&'], ['&unknown;', '&unknown;'], ['&amp;amp;', '&amp;'],
    ];
    for (const [input, expected] of cases) expect(pythonHtmlUnescape(input), input).toBe(expected);
  });

  it('ftfyUnescapeHtml only decodes complete references', () => {
    expect(ftfyUnescapeHtml('&amp &notit; &#x12g; &#39;')).toBe("&amp &notit; &#x12g; '");
  });
});
