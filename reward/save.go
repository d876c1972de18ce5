package reward

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"rlhf/safetensors"
	"rlhf/tensor"
)

// Files of a saved ensemble directory.
const (
	ConfigFile = "config.json"       // Config and training state
	ModelFile  = "model.safetensors" // member weights, "member.<m>.fc.<i>.weight|bias"
	OptimFile  = "optim.safetensors" // Adam moments, "member.<m>.exp_avg.<param>", ...
	formatName = "rlhf-reward-ensemble"
)

// savedEnsemble is the JSON beside the tensors.
type savedEnsemble struct {
	Format  string        `json:"format"`
	Config  Config        `json:"config"`
	Steps   int           `json:"steps"`
	Members []savedMember `json:"members"`
	// InMean and InStd are the input normaliser (absent before training).
	InMean []float64 `json:"in_mean,omitempty"`
	InStd  []float64 `json:"in_std,omitempty"`
}

// savedMember holds a member's non-tensor state. Losses are null when unknown.
type savedMember struct {
	L2        float64  `json:"l2"`
	Mean      float64  `json:"mean"`
	Std       float64  `json:"std"`
	TrainLoss *float64 `json:"train_loss"`
	ValLoss   *float64 `json:"val_loss"`
	RNG       []byte   `json:"rng"` // minibatch sampler state (PCG)
}

// Save writes the ensemble to dir (created if needed): weights and optimiser
// state as safetensors, the config with each member's L2 coefficient,
// normaliser and sampler state as JSON. The comparisons are not saved: the
// feedback store holds them, and adding them again after Load restores the
// same split and resamples. A reference set given by SetReference is not
// saved either; the normalisers computed from it are.
func (e *Ensemble) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	weights := map[string]*tensor.Tensor{}
	opt := map[string]*tensor.Tensor{}
	s := savedEnsemble{Format: formatName, Config: e.Config, Steps: e.steps, InMean: e.inMean, InStd: e.inStd}
	for m, mem := range e.Members {
		pre := "member." + strconv.Itoa(m) + "."
		for _, p := range mem.Net.Params() {
			weights[pre+p.Name] = p.P.Value
		}
		for k, t := range mem.Opt.StateDict() {
			opt[pre+k] = t
		}
		rng, err := mem.rng.MarshalBinary()
		if err != nil {
			return fmt.Errorf("reward: save %s: sampler state: %w", dir, err)
		}
		s.Members = append(s.Members, savedMember{
			L2: mem.L2, Mean: mem.Mean, Std: mem.Std,
			TrainLoss: finitePtr(mem.TrainLoss), ValLoss: finitePtr(mem.ValLoss), RNG: rng,
		})
	}
	if err := safetensors.WriteFile(filepath.Join(dir, ModelFile), weights, map[string]string{"format": formatName}); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	if err := safetensors.WriteFile(filepath.Join(dir, OptimFile), opt, nil); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("reward: save %s: encode config: %w", dir, err)
	}
	if err := writeFileAtomic(filepath.Join(dir, ConfigFile), append(b, '\n')); err != nil {
		return fmt.Errorf("reward: save %s: %w", dir, err)
	}
	return nil
}

func finitePtr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func valueOr(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// into place.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}

// Load reads an ensemble saved by Save. Add the comparisons again to keep
// training it.
func Load(dir string) (*Ensemble, error) {
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	var s savedEnsemble
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("reward: load %s: parse %s: %w", dir, ConfigFile, err)
	}
	if s.Format != formatName {
		return nil, fmt.Errorf("reward: load %s: format %q, want %q", dir, s.Format, formatName)
	}
	if len(s.Members) != s.Config.Members {
		return nil, fmt.Errorf("reward: load %s: %d member states for %d members", dir, len(s.Members), s.Config.Members)
	}
	if s.Steps < 0 {
		return nil, fmt.Errorf("reward: load %s: steps %d < 0", dir, s.Steps)
	}
	e, err := NewEnsemble(s.Config)
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	wf, err := safetensors.ReadFile(filepath.Join(dir, ModelFile))
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	of, err := safetensors.ReadFile(filepath.Join(dir, OptimFile))
	if err != nil {
		return nil, fmt.Errorf("reward: load %s: %w", dir, err)
	}
	want := 0
	for m, mem := range e.Members {
		pre := "member." + strconv.Itoa(m) + "."
		for _, p := range mem.Net.Params() {
			t, ok := wf.Tensors[pre+p.Name]
			if !ok {
				return nil, fmt.Errorf("reward: load %s: %s lacks %s", dir, ModelFile, pre+p.Name)
			}
			if !tensor.SameShape(t.Shape, p.P.Value.Shape) {
				return nil, fmt.Errorf("reward: load %s: %s has shape %v, config gives %v", dir, pre+p.Name, t.Shape, p.P.Value.Shape)
			}
			if err := checkFinite(t.Data); err != nil {
				return nil, fmt.Errorf("reward: load %s: %s: %w", dir, pre+p.Name, err)
			}
			copy(p.P.Value.Data, t.Data)
			want++
		}
		sd := map[string]*tensor.Tensor{}
		for name, t := range of.Tensors {
			if k, ok := strings.CutPrefix(name, pre); ok {
				sd[k] = t
			}
		}
		if err := mem.Opt.LoadStateDict(sd); err != nil {
			return nil, fmt.Errorf("reward: load %s: member %d: %w", dir, m, err)
		}
		sm := s.Members[m]
		if !(sm.Std > 0) || math.IsInf(sm.Std, 0) || math.IsNaN(sm.Mean) || math.IsInf(sm.Mean, 0) {
			return nil, fmt.Errorf("reward: load %s: member %d normaliser mean %v std %v invalid", dir, m, sm.Mean, sm.Std)
		}
		if !(sm.L2 >= s.Config.L2Min && sm.L2 <= s.Config.L2Max) {
			return nil, fmt.Errorf("reward: load %s: member %d l2 %v outside [%v, %v]", dir, m, sm.L2, s.Config.L2Min, s.Config.L2Max)
		}
		pcg := new(rand.PCG)
		if err := pcg.UnmarshalBinary(sm.RNG); err != nil {
			return nil, fmt.Errorf("reward: load %s: member %d sampler state: %w", dir, m, err)
		}
		mem.rng = pcg
		mem.L2, mem.Mean, mem.Std = sm.L2, sm.Mean, sm.Std
		mem.TrainLoss, mem.ValLoss = valueOr(sm.TrainLoss), valueOr(sm.ValLoss)
	}
	if len(wf.Tensors) != want {
		return nil, fmt.Errorf("reward: load %s: %s holds %d tensors, config gives %d", dir, ModelFile, len(wf.Tensors), want)
	}
	if s.InMean != nil || s.InStd != nil {
		in := s.Config.InDim()
		if len(s.InMean) != in || len(s.InStd) != in {
			return nil, fmt.Errorf("reward: load %s: input normaliser of %d means and %d deviations, want %d", dir, len(s.InMean), len(s.InStd), in)
		}
		for j := range in {
			m, sd := s.InMean[j], s.InStd[j]
			if math.IsNaN(m) || math.IsInf(m, 0) || !(sd > 0) || math.IsInf(sd, 0) {
				return nil, fmt.Errorf("reward: load %s: input normaliser feature %d mean %v std %v invalid", dir, j, m, sd)
			}
		}
		e.inMean, e.inStd = s.InMean, s.InStd
	}
	e.steps = s.Steps
	return e, nil
}

func checkFinite(xs []float32) error {
	for _, v := range xs {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return errors.New("non-finite value")
		}
	}
	return nil
}
