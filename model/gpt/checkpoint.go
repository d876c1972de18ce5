package gpt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"rlhf/safetensors"
	"rlhf/tensor"
	"rlhf/text"
)

// Checkpoint file names inside a model directory.
const (
	WeightsFile = "model.safetensors"
	ConfigFile  = "config.json"
)

// Save writes the model to dir (created if needed) as model.safetensors, with
// Hugging Face GPT-2 tensor names, and config.json. Each file is replaced
// atomically.
func (m *Model) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("gpt: save %s: %w", dir, err)
	}
	ts := make(map[string]*tensor.Tensor)
	for _, p := range m.Params() {
		ts[p.Name] = p.P.Value
	}
	meta := map[string]string{"format": "pt"}
	if err := safetensors.WriteFile(filepath.Join(dir, WeightsFile), ts, meta); err != nil {
		return fmt.Errorf("gpt: save %s: %w", dir, err)
	}
	cfg := m.Config
	cfg.ValueHead, cfg.RewardHead = m.VHead != nil, m.RHead != nil
	if cfg.ModelType == "" {
		cfg.ModelType = "gpt2"
	}
	if cfg.ActivationFunction == "" {
		cfg.ActivationFunction = "gelu_new"
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("gpt: save %s: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ConfigFile), append(js, '\n')); err != nil {
		return fmt.Errorf("gpt: save %s: %w", dir, err)
	}
	// Checkpoints are for sharing: readable by all, as files normally are.
	if err := os.Chmod(filepath.Join(dir, WeightsFile), 0o644); err != nil {
		return fmt.Errorf("gpt: save %s: %w", dir, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	werr = errors.Join(werr, f.Chmod(0o644))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// ReadConfig reads dir/config.json and validates it. Keys other than the
// ones Config names are ignored, as Hugging Face files carry many.
func ReadConfig(dir string) (Config, error) {
	path := filepath.Join(dir, ConfigFile)
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("gpt: read config: %w", err)
	}
	cfg := Config{LayerNormEpsilon: 1e-5, EOSTokenID: -1}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return Config{}, fmt.Errorf("gpt: parse %s: %w", path, err)
	}
	if cfg.EOSTokenID < 0 {
		cfg.EOSTokenID = cfg.VocabSize - 1 // GPT-2's <|endoftext|> is its last id
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return cfg, nil
}

// ignoredTensor reports tensors that Hugging Face GPT-2 files may carry and
// that the model does not need: the causal-mask buffers and the LM head,
// which is tied to wte.
func ignoredTensor(name string) bool {
	return strings.HasSuffix(name, ".attn.bias") || strings.HasSuffix(name, ".attn.masked_bias") ||
		name == "lm_head.weight"
}

// Load reads a model saved by Save, or a Hugging Face GPT-2 checkpoint
// (model.safetensors + config.json). Names may carry the "transformer."
// prefix; the attention-mask buffers and lm_head.weight are ignored;
// "r_head.*" is accepted for "score.*". The heads present are those the
// config declares. A missing, unexpected or misshapen tensor is an error.
func Load(dir string) (*Model, error) {
	cfg, err := ReadConfig(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, WeightsFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gpt: load %s: %w", dir, err)
	}
	m, err := New(cfg, 0)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]*tensor.Tensor, len(f.Tensors))
	for name, t := range f.Tensors {
		n := strings.TrimPrefix(name, "transformer.")
		if ignoredTensor(n) {
			continue
		}
		if rest, ok := strings.CutPrefix(n, "r_head."); ok {
			n = "score." + rest
		}
		if _, dup := byName[n]; dup {
			return nil, fmt.Errorf("gpt: load %s: tensor %s appears twice", path, n)
		}
		byName[n] = t
	}
	for _, p := range m.Params() {
		t, ok := byName[p.Name]
		if !ok {
			return nil, fmt.Errorf("gpt: load %s: missing tensor %s", path, p.Name)
		}
		if !tensor.SameShape(t.Shape, p.P.Value.Shape) {
			return nil, fmt.Errorf("gpt: load %s: tensor %s has shape %v, the config needs %v", path, p.Name, t.Shape, p.P.Value.Shape)
		}
		copy(p.P.Value.Data, t.Data)
		delete(byName, p.Name)
	}
	if len(byName) > 0 {
		extra := make([]string, 0, len(byName))
		for n := range byName {
			extra = append(extra, n)
		}
		slices.Sort(extra)
		if len(extra) > 5 {
			extra = append(extra[:5], "...")
		}
		return nil, fmt.Errorf("gpt: load %s: unexpected tensors %s (a head missing from config.json?)", path, strings.Join(extra, ", "))
	}
	return m, nil
}

// LoadTokenizer returns the tokenizer a model in dir was trained with (see
// Config.Tokenizer); an empty name means the default tokenizer.
func LoadTokenizer(dir string, cfg Config) (*text.Tokenizer, error) {
	switch cfg.Tokenizer {
	case "", "default":
		tok, err := text.DefaultTokenizer()
		if err != nil {
			return nil, fmt.Errorf("gpt: tokenizer: %w", err)
		}
		if tok.VocabSize() != cfg.VocabSize {
			return nil, fmt.Errorf("gpt: the default tokenizer has %d ids, the model %d", tok.VocabSize(), cfg.VocabSize)
		}
		return tok, nil
	}
	p := cfg.Tokenizer
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("gpt: tokenizer %q: no directory %s", cfg.Tokenizer, p)
	}
	tok, err := text.Load(p)
	if err != nil {
		return nil, fmt.Errorf("gpt: tokenizer: %w", err)
	}
	if tok.VocabSize() > cfg.VocabSize {
		return nil, fmt.Errorf("gpt: tokenizer %s has %d ids, more than the model's %d", p, tok.VocabSize(), cfg.VocabSize)
	}
	return tok, nil
}
