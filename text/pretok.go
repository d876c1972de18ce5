package text

import (
	"unicode"
	"unicode/utf8"
)

// Pre-tokenisation splits text into pieces that BPE never merges across.
// It follows GPT-2's pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// tried in that order at each position. Go's regexp has no lookahead, so the
// scanner below implements the pattern by hand; the \s+(?!\S) rule means a run
// of whitespace followed by a non-space leaves its last character to start the
// next piece (so " word" keeps its leading space).
//
// Whitespace is Unicode White_Space (unicode.IsSpace), letters are \p{L}
// (unicode.IsLetter) and numbers \p{N} (unicode.IsNumber). Bytes that are not
// valid UTF-8 count as "other" characters, one byte each, so every byte
// string splits into pieces that concatenate back to it.

type charClass uint8

const (
	classOther charClass = iota
	classLetter
	classNumber
	classSpace
)

// asciiClass is the class of each ASCII byte, precomputed.
var asciiClass [128]charClass

func init() {
	for c := range 128 {
		r := rune(c)
		switch {
		case unicode.IsSpace(r):
			asciiClass[c] = classSpace
		case unicode.IsLetter(r):
			asciiClass[c] = classLetter
		case unicode.IsNumber(r):
			asciiClass[c] = classNumber
		default:
			asciiClass[c] = classOther
		}
	}
}

// classAt returns the class and byte width of the character at s[i:].
func classAt(s string, i int) (charClass, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	if r == utf8.RuneError && n == 1 {
		return classOther, 1
	}
	switch {
	case unicode.IsSpace(r):
		return classSpace, n
	case unicode.IsLetter(r):
		return classLetter, n
	case unicode.IsNumber(r):
		return classNumber, n
	}
	return classOther, n
}

// contractions in the order GPT-2's pattern tries them.
var contractions = [...]string{"s", "t", "re", "ve", "m", "ll", "d"}

// runOf returns the end of the run of characters of class c starting at i.
func runOf(s string, i int, c charClass) int {
	for i < len(s) {
		ci, n := classAt(s, i)
		if ci != c {
			break
		}
		i += n
	}
	return i
}

// nextPiece returns the end of the piece that starts at s[i:], i < len(s).
func nextPiece(s string, i int) int {
	if s[i] == '\'' {
		rest := s[i+1:]
		for _, c := range contractions {
			if len(rest) >= len(c) && rest[:len(c)] == c {
				return i + 1 + len(c)
			}
		}
	}
	c, n := classAt(s, i)
	if s[i] == ' ' && i+1 < len(s) {
		// " ?X+" with the optional space present.
		if c2, n2 := classAt(s, i+1); c2 != classSpace {
			return runOf(s, i+1+n2, c2)
		}
	}
	if c != classSpace {
		return runOf(s, i+n, c)
	}
	// A run of whitespace. \s+(?!\S): at the end of the text take it all;
	// before a non-space give back its last character if the run has more
	// than one. Otherwise \s+ takes the single character.
	end := runOf(s, i+n, classSpace)
	if end == len(s) {
		return end
	}
	last := lastRuneStart(s, i, end)
	if last > i {
		return last
	}
	return end
}

// lastRuneStart returns the start of the last character in s[from:end].
func lastRuneStart(s string, from, end int) int {
	_, n := utf8.DecodeLastRuneInString(s[from:end])
	return end - n
}

// pieces calls yield with each pre-token of s in order.
func pieces(s string, yield func(string) bool) {
	for i := 0; i < len(s); {
		j := nextPiece(s, i)
		if !yield(s[i:j]) {
			return
		}
		i = j
	}
}
