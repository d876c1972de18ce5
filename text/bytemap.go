package text

// GPT-2 stores tokens as strings in which every byte is shown as one printable
// Unicode character: the printable Latin-1 bytes ('!'..'~', '¡'..'¬', '®'..'ÿ')
// stand for themselves and the other 68 bytes (controls, space, DEL, NBSP,
// soft hyphen, ...) are shifted to U+0100 and up, in byte order.
var (
	byteToRune [256]rune
	runeToByte = make(map[rune]byte, 256)
)

func init() {
	printable := func(b int) bool {
		return b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE && b <= 0xFF
	}
	next := rune(256)
	for b := range 256 {
		if printable(b) {
			byteToRune[b] = rune(b)
		} else {
			byteToRune[b] = next
			next++
		}
		runeToByte[byteToRune[b]] = byte(b)
	}
}

// bytesToGPT2 returns the GPT-2 string form of a byte sequence.
func bytesToGPT2(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = byteToRune[c]
	}
	return string(rs)
}

// gpt2ToBytes inverts bytesToGPT2; ok is false if s holds a character that
// stands for no byte.
func gpt2ToBytes(s string) (b []byte, ok bool) {
	b = make([]byte, 0, len(s))
	for _, r := range s {
		c, found := runeToByte[r]
		if !found {
			return nil, false
		}
		b = append(b, c)
	}
	return b, true
}
