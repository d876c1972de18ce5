package text

import (
	"embed"
	"sync"
)

//go:embed data/tok4096
var tokFS embed.FS

var defaultTok = sync.OnceValues(func() (*Tokenizer, error) {
	return LoadFS(tokFS, "data/tok4096")
})

// DefaultTokenizer returns the project's tokenizer: 4096 ids (256 bytes, 3839
// merges, <|endoftext|> = 4095), trained with Train on the "train" side of the
// default split of the shipped corpus; text/data/README.md gives the command
// that made it. It is loaded once and shared.
func DefaultTokenizer() (*Tokenizer, error) {
	return defaultTok()
}
