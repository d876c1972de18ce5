package main

import (
	"strings"
)

// brownText turns one tagged Brown corpus file into plain text.
//
// The file holds one sentence per line as word/TAG tokens separated by
// spaces. A line that starts with a tab opens a paragraph; a line of headline
// tokens (tags ending in -hl) stands as a paragraph of its own. Paragraphs are
// joined by a blank line, sentences within a paragraph by one space.
func brownText(file string) string {
	var paras []string
	var cur []string // sentences of the open paragraph
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, strings.Join(cur, " "))
			cur = cur[:0]
		}
	}
	for line := range strings.Lines(file) {
		line = strings.TrimRight(line, "\r\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		words, tags := splitTagged(line)
		if len(words) == 0 {
			continue
		}
		headline := allHeadline(tags)
		if strings.HasPrefix(line, "\t") || headline {
			flush()
		}
		cur = append(cur, detokenize(words))
		if headline {
			flush()
		}
	}
	flush()
	return strings.Join(paras, "\n\n")
}

// splitTagged splits "The/at jury/nn ./." into words and tags at the last slash
// of each token (words such as "1-1/2/cd" hold slashes themselves).
func splitTagged(line string) (words, tags []string) {
	for _, tok := range strings.Fields(line) {
		i := strings.LastIndexByte(tok, '/')
		if i <= 0 {
			words = append(words, tok)
			tags = append(tags, "")
			continue
		}
		words = append(words, tok[:i])
		tags = append(tags, tok[i+1:])
	}
	return words, tags
}

func allHeadline(tags []string) bool {
	for _, t := range tags {
		if !strings.HasSuffix(t, "-hl") {
			return false
		}
	}
	return len(tags) > 0
}

// detokenize joins tokens with the spacing of ordinary printed English:
// Brown's quote tokens (two backquotes, two apostrophes) become straight
// double quotes, closing punctuation
// attaches to the word before it, opening brackets and quotes to the word after.
func detokenize(words []string) string {
	var b strings.Builder
	noSpaceNext := true // no space before the next token
	for _, w := range words {
		out, attachLeft, attachRight := w, false, false
		switch w {
		case "``":
			out, attachRight = `"`, true
		case "''":
			out, attachLeft = `"`, true
		case "`":
			out, attachRight = "'", true
		case "'":
			attachLeft = true
		case ".", ",", ";", ":", "?", "!", ")", "]", "}", "??", "!!", "...":
			attachLeft = true
		case "(", "[", "{":
			attachRight = true
		}
		if w == "." && strings.HasSuffix(b.String(), ".") {
			continue // "Jr." ending a sentence is followed by a "." token of its own
		}
		if !noSpaceNext && !attachLeft {
			b.WriteByte(' ')
		}
		b.WriteString(out)
		noSpaceNext = attachRight
	}
	return b.String()
}
