// Package text holds the language side's data layer: the corpus that ships
// with the project (State of the Union addresses 1790-2021 and the Brown
// corpus), a deterministic train/validation split, prompt sets for RLHF, and
// a byte-level BPE tokenizer in the style of GPT-2.
//
// The tokenizer trains on any text (Train), reads and writes GPT-2's
// encoder.json + vocab.bpe files (Load, Save), and reproduces GPT-2's own
// token ids when given GPT-2's files. DefaultTokenizer returns the 4096-token
// vocabulary trained on the shipped corpus, which the project's small models use.
package text
