package main

import "testing"

func TestDetokenize(t *testing.T) {
	cases := []struct{ in, want string }{
		{"The/at jury/nn said/vbd ``/`` no/at evidence/nn ''/'' ./.", `The jury said "no evidence".`},
		{"``/`` Only/rb a/at handful/nn ''/'' ,/, the/at jury/nn said/vbd ./.", `"Only a handful", the jury said.`},
		{"a/at (/( 1-1/2/cd inch/nn )/) piece/nn ;/. done/vbn !/.", "a (1-1/2 inch) piece; done!"},
		{"won/vbn by/in Ivan/np Allen/np Jr./np ./.", "won by Ivan Allen Jr."},
		{"He/pps said/vbd --/-- well/rb --/-- no/at ./.", "He said -- well -- no."},
		{"`/` yes/rb '/' ,/, she/pps didn't/dod* ./.", "'yes', she didn't."},
	}
	for _, c := range cases {
		w, _ := splitTagged(c.in)
		if got := detokenize(w); got != c.want {
			t.Errorf("detokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestBrownTextParagraphs(t *testing.T) {
	in := "\n\n\tThe/at jury/nn met/vbd ./.\nIt/pps left/vbd ./.\n\n\nMerger/nn-hl proposed/vbn-hl \nHowever/wrb ,/, no/at ./.\n\n\tNew/jj one/cd ./.\n"
	want := "The jury met. It left.\n\nMerger proposed\n\nHowever, no.\n\nNew one."
	if got := brownText(in); got != want {
		t.Errorf("brownText = %q, want %q", got, want)
	}
}
